import 'reflect-metadata';
import { Injectable, Module, type INestApplicationContext, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { RedisOptions } from 'ioredis';
import {
  LoadLockService,
  LoadStatusEvents,
  LoadStatusModule,
  LoadStatusService,
  WithUserLoadLock,
  type LoadStatusModuleOptions,
  type RedisSource,
} from '../../src';
import type { FlowResult, Strategy } from './types';

export const HOT_PATH_KEY_PREFIX = 'bench-hot-nc-on';

/** A provider with a decorated loader and its undecorated twin, for the hot-path overhead row. */
@Injectable()
export class HotPathLoader {
  bodyRuns = 0;

  // Several registrations are live in the hot-path scenario: name the one this method uses.
  @WithUserLoadLock({ keyPrefix: HOT_PATH_KEY_PREFIX })
  async load(_userId: string): Promise<void> {
    this.bodyRuns++;
    return Promise.resolve();
  }

  async loadUndecorated(_userId: string): Promise<void> {
    this.bodyRuns++;
    return Promise.resolve();
  }
}

@Module({})
class BenchAppModule {}

/**
 * This library: `LoadLockService.ensureLoaded` in a Nest application context with
 * `LoadStatusModule.forRoot({ redis })`, default options unless `options` says otherwise (the
 * near-cache is on by default with Redis).
 */
export class LibraryStrategy implements Strategy {
  readonly id = 'library' as const;
  readonly crossProcess = true;

  private constructor(
    readonly app: INestApplicationContext,
    readonly locks: LoadLockService,
    readonly status: LoadStatusService,
    readonly events: LoadStatusEvents,
  ) {}

  /**
   * @param clientOptions ioredis options for the module's own client instead of the bare URL
   *   (e.g. `{ enableAutoPipelining: false }`); the module still creates and owns the client.
   */
  static async create(
    redisUrl: string,
    options: Omit<LoadStatusModuleOptions, 'redis'> = {},
    clientOptions?: RedisOptions,
  ): Promise<LibraryStrategy> {
    const url = new URL(redisUrl);
    const redis: string | RedisOptions = clientOptions
      ? { host: url.hostname, port: Number(url.port), ...clientOptions }
      : redisUrl;
    return LibraryStrategy.withSource(redis, options);
  }

  /**
   * The same on any Redis the module takes: a URL, ioredis options, or a client it borrows (an
   * ioredis `Cluster`, a node-redis `createCluster()`; the caller closes it after `close()`).
   * @param logLevels what the app logs (the bench's tables go to stdout, as Nest's log does)
   */
  static async withSource(
    redis: RedisSource,
    options: Omit<LoadStatusModuleOptions, 'redis'> = {},
    logLevels: LogLevel[] = ['error', 'warn'],
  ): Promise<LibraryStrategy> {
    const app = await NestFactory.createApplicationContext(
      {
        module: BenchAppModule,
        imports: [LoadStatusModule.forRoot({ keyPrefix: 'bench-lib', ...options, redis })],
        providers: [HotPathLoader],
      },
      { logger: logLevels, abortOnError: false },
    );
    await app.init();
    return new LibraryStrategy(
      app,
      app.get(LoadLockService),
      app.get(LoadStatusService),
      app.get(LoadStatusEvents),
    );
  }

  async ensureLoaded(userId: string, loader: () => Promise<void>): Promise<FlowResult> {
    const outcome = await this.locks.ensureLoaded(userId, loader);
    if (outcome.status === 'loaded') return outcome.shared ? 'joined' : 'ran-loader';
    return outcome.status === 'already-loaded' ? 'already-loaded' : 'waited';
  }

  /** Runs the lease-extension script once, so a trial's first keep-alive is no NOSCRIPT retry. */
  async warmup(): Promise<void> {
    const lock = await this.locks.acquireLoadLock(`warmup-extend:${process.pid}`);
    if (!lock) return;
    await lock.extend();
    await this.locks.releaseLoadLock(lock);
  }

  async lockCycle(userId: string): Promise<void> {
    const lock = await this.locks.acquireLoadLock(userId);
    if (!lock) throw new Error(`library: lock of ${userId} unexpectedly held`);
    await this.locks.releaseLoadLock(lock);
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}
