import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { sleep } from '../clock';
import { LOADED_TTL_MS, WaitTimedOutError, type FlowResult, type Strategy } from './types';

/**
 * The reference pattern, reimplemented from its description (issue 4 / DESIGN.md): keys built by
 * hand as `globalPrefix + separator + namespace + ':' + key`; `isLoaded` = GET of the flag;
 * `setLoaded` = SET PX (1 h); `acquireLoadLock` = SET NX PX 30 s (false on a Redis error);
 * `releaseLoadLock` = plain DEL; `waitForLoad` polls the flag every 100 ms for up to 5 s.
 */
export class ReferenceLoadStatus {
  private readonly lockValue = `${process.pid}:${randomUUID()}`;

  constructor(
    private readonly redis: Redis,
    private readonly globalPrefix = 'bench-ref',
    private readonly separator = ':',
  ) {}

  private key(namespace: string, key: string): string {
    return this.globalPrefix + this.separator + namespace + ':' + key;
  }

  async isLoaded(userId: string): Promise<boolean> {
    return (await this.redis.get(this.key('loaded', userId))) !== null;
  }

  async setLoaded(userId: string, ttlMs = LOADED_TTL_MS): Promise<void> {
    await this.redis.set(this.key('loaded', userId), '1', 'PX', ttlMs);
  }

  async clearLoaded(userId: string): Promise<void> {
    await this.redis.del(this.key('loaded', userId));
  }

  async acquireLoadLock(userId: string, ttlMs = 30_000): Promise<boolean> {
    try {
      return (
        (await this.redis.set(this.key('lock', userId), this.lockValue, 'PX', ttlMs, 'NX')) === 'OK'
      );
    } catch {
      return false;
    }
  }

  async releaseLoadLock(userId: string): Promise<void> {
    await this.redis.del(this.key('lock', userId));
  }

  async waitForLoad(
    userId: string,
    maxWaitMs = 5_000,
    intervalMs = 100,
    signal?: AbortSignal,
  ): Promise<boolean> {
    const started = Date.now();
    while (Date.now() - started < maxWaitMs) {
      if (await this.isLoaded(userId)) return true;
      await sleep(intervalMs, signal);
    }
    return false;
  }
}

export class ReferenceStrategy implements Strategy {
  readonly id = 'reference' as const;
  readonly crossProcess = true;
  readonly status: ReferenceLoadStatus;

  /**
   * @param loadedTtlMs the flag's TTL (`setLoaded`): the reference's 1 h unless a scenario needs
   *   flags that run out (part 7)
   */
  constructor(
    private readonly redis: Redis,
    private readonly loadedTtlMs = LOADED_TTL_MS,
    globalPrefix?: string,
  ) {
    this.status = new ReferenceLoadStatus(redis, globalPrefix);
  }

  static create(redisUrl: string, loadedTtlMs?: number, globalPrefix?: string): ReferenceStrategy {
    return new ReferenceStrategy(new Redis(redisUrl), loadedTtlMs, globalPrefix);
  }

  async ensureLoaded(
    userId: string,
    loader: () => Promise<void>,
    signal: AbortSignal,
  ): Promise<FlowResult> {
    const s = this.status;
    if (await s.isLoaded(userId)) return 'already-loaded';
    if (await s.acquireLoadLock(userId)) {
      try {
        if (await s.isLoaded(userId)) return 'waited';
        await loader();
        await s.setLoaded(userId, this.loadedTtlMs);
        return 'ran-loader';
      } finally {
        await s.releaseLoadLock(userId);
      }
    }
    if (await s.waitForLoad(userId, 5_000, 100, signal)) return 'waited';
    throw new WaitTimedOutError(`reference: user ${userId} not loaded after 5000 ms`);
  }

  async lockCycle(userId: string): Promise<void> {
    if (!(await this.status.acquireLoadLock(userId)))
      throw new Error(`reference: lock of ${userId} unexpectedly held`);
    await this.status.releaseLoadLock(userId);
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}
