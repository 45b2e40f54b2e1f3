import { Controller, Get, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import {
  LoadStatusHealthCheckError,
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

/** `isHealthyOrThrow()` speaks what terminus 10 and 11 read; the compat matrix runs it on both. */
describe('LoadStatusHealthIndicator.isHealthyOrThrow (terminus 10 and 11)', () => {
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

  it('reports up while Redis answers', async () => {
    app = await boot({ redis: server.url, keyPrefix: uniquePrefix('legacy') });
    const result = await app.get(LoadStatusHealthIndicator).isHealthyOrThrow('ls');
    expect(result.ls).toMatchObject({ status: 'up', reachable: true, degraded: false });
  });

  it('reports a degraded store (fail-open, Redis down) as up, with degraded: true', async () => {
    app = await boot({
      redis: server.url,
      keyPrefix: uniquePrefix('legacy'),
      commandTimeoutMs: 200,
    });
    await server.kill();
    const result = await app.get(LoadStatusHealthIndicator).isHealthyOrThrow();
    expect(result['load-status']).toMatchObject({ status: 'up', reachable: false, degraded: true });
  });

  it('throws what terminus reads as its HealthCheckError when down (fail-closed, Redis down)', async () => {
    app = await boot({
      redis: server.url,
      keyPrefix: uniquePrefix('legacy'),
      onStoreError: 'fail-closed',
      commandTimeoutMs: 200,
    });
    await server.kill();
    const error: unknown = await app
      .get(LoadStatusHealthIndicator)
      .isHealthyOrThrow('ls')
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(LoadStatusHealthCheckError);
    expect(error).toMatchObject({
      isHealthCheckError: true,
      causes: { ls: { status: 'down', reachable: false, onStoreError: 'fail-closed' } },
    });
    expect((error as Error).message).toMatch(
      /^Health check "ls" failed: the load-status store is down \(/,
    );
  });
});
