import { Redlock } from '@sesamecare-oss/redlock';
import { Redis } from 'ioredis';
import { checkLockLoad, type FlowResult, type Strategy } from './types';

/** Lock duration: the reference pattern's 30 s, as a user porting that pattern would keep it. */
export const REDLOCK_DURATION_MS = 30_000;

/**
 * `@sesamecare-oss/redlock` on one Redis instance, settings left at their defaults (retryCount 10,
 * retryDelay 200 ms, retryJitter 100 ms, driftFactor 0.01): `acquire` retries for about 2-3 s,
 * then throws `ExecutionError`. Flow: GET flag → acquire → GET flag → load → SET flag → release.
 */
export class RedlockStrategy implements Strategy {
  readonly id = 'redlock' as const;
  readonly crossProcess = true;
  private readonly redlock: Redlock;

  constructor(private readonly redis: Redis) {
    this.redlock = new Redlock([redis]);
  }

  static create(redisUrl: string): RedlockStrategy {
    return new RedlockStrategy(new Redis(redisUrl));
  }

  private flagKey(userId: string): string {
    return `bench-redlock:loaded:${userId}`;
  }

  private lockKey(userId: string): string {
    return `bench-redlock:lock:${userId}`;
  }

  async ensureLoaded(userId: string, loader: () => Promise<void>): Promise<FlowResult> {
    return checkLockLoad(
      this.redis,
      this.flagKey(userId),
      async () => {
        const lock = await this.redlock.acquire([this.lockKey(userId)], REDLOCK_DURATION_MS);
        return () => lock.release();
      },
      loader,
    );
  }

  async lockCycle(userId: string): Promise<void> {
    const lock = await this.redlock.acquire([this.lockKey(userId)], REDLOCK_DURATION_MS);
    await lock.release();
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}
