import { Controller, Get, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  LoadStatusHealthIndicator,
  LoadStatusModule,
  type LoadStatusModuleOptions,
} from '../../src';
import { uniquePrefix } from '../support/env';
import { RedisServer } from '../support/redis-server';

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly loadStatus: LoadStatusHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.loadStatus.isHealthy('load-status')]);
  }
}

async function boot(options: LoadStatusModuleOptions): Promise<INestApplication> {
  @Module({
    imports: [TerminusModule, LoadStatusModule.forRoot(options)],
    controllers: [HealthController],
  })
  class HealthAppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [HealthAppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('LoadStatusHealthIndicator with @nestjs/terminus', () => {
  let server: RedisServer;
  let app: INestApplication | undefined;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(() => server.stop());
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await server.restart().catch(() => undefined);
  });

  it('is up while Redis answers and notifications flow', async () => {
    app = await boot({ redis: server.url, keyPrefix: uniquePrefix('health') });
    const res = await request(app.getHttpServer()).get('/health').expect(200);
    expect(res.body.info['load-status']).toMatchObject({
      status: 'up',
      store: 'redis',
      reachable: true,
      notifications: 'live',
      degraded: false,
    });
  });

  it('is up on the in-memory store', async () => {
    app = await boot({});
    const res = await request(app.getHttpServer()).get('/health').expect(200);
    expect(res.body.info['load-status']).toMatchObject({
      status: 'up',
      store: 'memory',
      reachable: true,
    });
  });

  it('is degraded (HTTP 200) with fail-open while Redis is down', async () => {
    app = await boot({
      redis: server.url,
      keyPrefix: uniquePrefix('health'),
      commandTimeoutMs: 200,
    });
    await server.kill();
    const res = await request(app.getHttpServer()).get('/health').expect(200);
    expect(res.body.status).toBe('degraded');
    expect(res.body.details['load-status']).toMatchObject({
      status: 'degraded',
      reachable: false,
      degraded: true,
      onStoreError: 'fail-open',
    });
    expect(res.body.details['load-status'].error).toMatch(/Redis connection is|no reply/);
  });

  it('is down (HTTP 503) with fail-closed while Redis is down, and up again after it returns', async () => {
    app = await boot({
      redis: server.url,
      keyPrefix: uniquePrefix('health'),
      onStoreError: 'fail-closed',
      commandTimeoutMs: 200,
    });
    await server.kill();
    const res = await request(app.getHttpServer()).get('/health').expect(503);
    expect(res.body.error['load-status']).toMatchObject({
      status: 'down',
      reachable: false,
      onStoreError: 'fail-closed',
    });
    await server.restart();
    const deadline = Date.now() + 5_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      status = (await request(app.getHttpServer()).get('/health')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(200);
  });
});
