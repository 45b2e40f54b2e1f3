import { Mutex } from 'async-mutex';
import { Redis } from 'ioredis';
import { checkLockLoad, type FlowResult, type Strategy } from './types';

/**
 * `async-mutex`: an in-process lock per user, the floor for a lock cycle (no network at all). It
 * cannot coordinate processes: in the multi-process scenarios each process loads the user once
 * (the flag is in Redis, so a process that comes late sees it). Flow: GET flag → lock → GET flag →
 * load → SET flag → unlock.
 */
export class AsyncMutexStrategy implements Strategy {
  readonly id = 'async-mutex' as const;
  readonly crossProcess = false;
  private readonly mutexes = new Map<string, Mutex>();

  constructor(private readonly redis: Redis) {}

  static create(redisUrl: string): AsyncMutexStrategy {
    return new AsyncMutexStrategy(new Redis(redisUrl));
  }

  private mutex(userId: string): Mutex {
    let mutex = this.mutexes.get(userId);
    if (!mutex) {
      mutex = new Mutex();
      this.mutexes.set(userId, mutex);
    }
    return mutex;
  }

  private flagKey(userId: string): string {
    return `bench-amutex:loaded:${userId}`;
  }

  async ensureLoaded(userId: string, loader: () => Promise<void>): Promise<FlowResult> {
    return checkLockLoad(
      this.redis,
      this.flagKey(userId),
      () => this.mutex(userId).acquire(),
      loader,
    );
  }

  async lockCycle(userId: string): Promise<void> {
    const unlock = await this.mutex(userId).acquire();
    unlock();
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}
