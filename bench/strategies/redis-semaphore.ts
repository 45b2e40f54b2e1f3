import { Redis } from 'ioredis';
import { Mutex } from 'redis-semaphore';
import { checkLockLoad, type FlowResult, type Strategy } from './types';

/**
 * `redis-semaphore` `Mutex` with its defaults: lockTimeout 10 s (auto-refreshed every 8 s while
 * held), acquireTimeout 10 s, retryInterval 10 ms (SET NX PX polled every 10 ms), release by a
 * compare-and-delete script. Flow: GET flag → acquire → GET flag → load → SET flag → release.
 */
export class RedisSemaphoreStrategy implements Strategy {
  readonly id = 'redis-semaphore' as const;
  readonly crossProcess = true;

  constructor(private readonly redis: Redis) {}

  static create(redisUrl: string): RedisSemaphoreStrategy {
    return new RedisSemaphoreStrategy(new Redis(redisUrl));
  }

  private flagKey(userId: string): string {
    return `bench-sem:loaded:${userId}`;
  }

  async ensureLoaded(
    userId: string,
    loader: () => Promise<void>,
    signal: AbortSignal,
  ): Promise<FlowResult> {
    return checkLockLoad(
      this.redis,
      this.flagKey(userId),
      async () => {
        const mutex = new Mutex(this.redis, `bench-sem:lock:${userId}`);
        await mutex.acquire(signal);
        return () => mutex.release();
      },
      loader,
    );
  }

  async lockCycle(userId: string): Promise<void> {
    const mutex = new Mutex(this.redis, `bench-sem:lock:${userId}`);
    await mutex.acquire();
    await mutex.release();
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}
