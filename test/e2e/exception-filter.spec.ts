/**
 * LoadStatusExceptionFilter in a real Nest HTTP app (Express), over supertest: the library's
 * errors as Nest apps answer them — 503 with Retry-After for what passes, 400 for a bad key,
 * 500 for the rest — and nothing else touched.
 */
import { Controller, Get, Param, type INestApplication } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  LoadLockService,
  LoadStatusExceptionFilter,
  LoadStatusModule,
  LoadStatusRejectedError,
} from '../../src';
import { CollectingLogger } from '../support/logged-app';
import type { LoadStatusModuleOptions } from '../../src';
import { deferred } from '../support/apps';

const holding = deferred();

@Controller()
class LoadsController {
  constructor(private readonly locks: LoadLockService) {}

  /** Starts a load that holds its lock until the test ends. */
  @Get('hold/:id')
  hold(@Param('id') id: string): { holding: true } {
    void this.locks.ensureLoaded(id, () => holding.promise).catch(() => undefined);
    return { holding: true };
  }

  @Get('load/:id')
  async load(@Param('id') id: string): Promise<{ status: string }> {
    const outcome = await this.locks.ensureLoaded(id, () => Promise.resolve(1), {
      waitTimeoutMs: 50,
    });
    return { status: outcome.status };
  }

  @Get('refused')
  refused(): never {
    throw new LoadStatusRejectedError('acquire', 'NOPERM', 'grant the ACL rule');
  }

  @Get('boom')
  boom(): never {
    throw new Error('not ours');
  }
}

async function start(
  options: LoadStatusModuleOptions,
  filter: boolean,
  logger: CollectingLogger | false = false,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [LoadStatusModule.forRoot(options)],
    controllers: [LoadsController],
    providers: filter ? [{ provide: APP_FILTER, useClass: LoadStatusExceptionFilter }] : [],
  }).compile();
  const app = moduleRef.createNestApplication({ logger });
  await app.init();
  return app;
}

describe('LoadStatusExceptionFilter', () => {
  let app: INestApplication;
  afterEach(() => app.close());
  afterAll(() => holding.resolve());

  it('answers a wait that timed out with 503 and Retry-After', async () => {
    app = await start({ store: 'memory' }, true);
    await request(app.getHttpServer()).get('/hold/u1').expect(200);
    const response = await request(app.getHttpServer()).get('/load/u1');
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect(response.body).toEqual({
      statusCode: 503,
      message: 'Service temporarily unavailable; try again later.',
      error: 'Service Unavailable',
    });
  });

  it('answers an unreachable store under fail-closed with 503 and Retry-After', async () => {
    app = await start(
      { redis: 'redis://127.0.0.1:1', onStoreError: 'fail-closed', commandTimeoutMs: 100 },
      true,
    );
    const response = await request(app.getHttpServer()).get('/load/u1');
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect(response.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });
  });

  it('answers an invalid key with 400 and the reason', async () => {
    app = await start({ store: 'memory' }, true);
    const response = await request(app.getHttpServer()).get('/load/%20%20');
    expect(response.status).toBe(400);
    expect(response.headers['retry-after']).toBeUndefined();
    expect(response.body).toMatchObject({
      statusCode: 400,
      error: 'Bad Request',
      message: expect.stringMatching(/it is only whitespace/),
    });
  });

  it('answers a refusal by Redis with a generic 500, and logs it with its error', async () => {
    const logger = new CollectingLogger();
    app = await start({ store: 'memory' }, true, logger);
    const response = await request(app.getHttpServer()).get('/refused');
    expect(response.status).toBe(500);
    expect(response.headers['retry-after']).toBeUndefined();
    expect(response.body).toEqual({
      statusCode: 500,
      message: 'Internal server error',
      error: 'Internal Server Error',
    });
    expect(logger.lines.filter((l) => l.level === 'error').map((l) => l.message)).toEqual([
      'Redis rejected acquire (NOPERM); grant the ACL rule.',
    ]);
  });

  it('leaves errors that are not the library’s to Nest', async () => {
    app = await start({ store: 'memory' }, true);
    const response = await request(app.getHttpServer()).get('/boom');
    expect(response.status).toBe(500);
    expect(response.body).toEqual({ statusCode: 500, message: 'Internal server error' });
  });

  it('without it, the same timeout is a bare 500: the filter is what makes it a 503', async () => {
    app = await start({ store: 'memory' }, false);
    await request(app.getHttpServer()).get('/hold/u2').expect(200);
    const response = await request(app.getHttpServer()).get('/load/u2');
    expect(response.status).toBe(500);
    expect(response.headers['retry-after']).toBeUndefined();
  });
});
