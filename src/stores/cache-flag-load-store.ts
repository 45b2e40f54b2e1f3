import { NoticeKind } from '../keys';
import type { AcquireResult, LoadStore, StoreListener, StoreUser } from './load-store';

/**
 * The part of a cache-manager 7 `Cache` this store uses; any object with these methods works.
 * TTLs are in ms; `ttl(key)` returns the expiry time (ms since the epoch), or undefined.
 */
export interface FlagCache {
  get<T>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T, ttl?: number): Promise<T>;
  del(key: string): Promise<boolean>;
  ttl(key: string): Promise<number | undefined>;
}

/** True for a cache-manager `Cache` (or anything shaped like one). */
export function isFlagCache(value: unknown): value is FlagCache {
  const c = value as FlagCache;
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof c.get === 'function' &&
    typeof c.set === 'function' &&
    typeof c.del === 'function' &&
    typeof c.ttl === 'function'
  );
}

/**
 * Loaded flags in the app's cache-manager `Cache`, so a flag expires or is deleted together with
 * the data it guards; locks, fencing and notifications from `locks` (Redis or memory).
 *
 * Not one atomic step as with Redis alone: the flag is written before the lock is released (so a
 * caller that takes the lock next always sees it), and a caller that wins the lock re-checks the
 * flag before loading.
 */
export class CacheFlagLoadStore implements LoadStore {
  readonly kind = 'cache-manager' as const;

  constructor(
    private readonly cache: FlagCache,
    private readonly locks: LoadStore,
    private readonly now: () => number = Date.now,
  ) {}

  get notificationsLive(): boolean {
    return this.locks.notificationsLive;
  }

  get isDegraded(): boolean {
    return (this.locks as { isDegraded?: boolean }).isDegraded === true;
  }

  init(listener: StoreListener): Promise<void> {
    return this.locks.init(listener);
  }

  async flagTtl(user: StoreUser, watchMs?: number): Promise<number | undefined> {
    const remaining = await this.cachedFlagTtl(user);
    // Not loaded and asked to watch: mark the user as waited on in the lock store.
    if (remaining === undefined && watchMs !== undefined) await this.locks.flagTtl(user, watchMs);
    return remaining;
  }

  private async cachedFlagTtl(user: StoreUser): Promise<number | undefined> {
    const expiresAt = await this.cache.ttl(user.loaded);
    if (typeof expiresAt === 'number') {
      const left = expiresAt - this.now();
      return left > 0 ? left : undefined;
    }
    // No expiry recorded: either no entry, or one kept forever.
    return (await this.cache.get(user.loaded)) === undefined ? undefined : Number.MAX_SAFE_INTEGER;
  }

  async setLoaded(user: StoreUser, ttlMs: number): Promise<void> {
    await this.cache.set(user.loaded, 1, ttlMs);
    await this.locks.publish(NoticeKind.Loaded, user);
  }

  async clearLoaded(user: StoreUser): Promise<void> {
    await this.cache.del(user.loaded);
    await this.locks.publish(NoticeKind.Cleared, user);
  }

  async acquire(
    user: StoreUser,
    token: string,
    ttlMs: number,
    checkFlag: boolean,
  ): Promise<AcquireResult> {
    if (checkFlag) {
      const remainingMs = await this.flagTtl(user);
      if (remainingMs !== undefined) return { state: 'loaded', remainingMs };
    }
    const result = await this.locks.acquire(user, token, ttlMs, false);
    if (!checkFlag || result.state !== 'acquired') return result;
    // Someone may have finished between our flag read and the lock: they set the flag first.
    const remainingMs = await this.flagTtl(user);
    if (remainingMs === undefined) return result;
    await this.locks.finishLock(user, token);
    return { state: 'loaded', remainingMs };
  }

  extend(user: StoreUser, token: string, ttlMs: number): Promise<boolean> {
    return this.locks.extend(user, token, ttlMs);
  }

  release(user: StoreUser, token: string): Promise<boolean> {
    return this.locks.release(user, token);
  }

  async finish(user: StoreUser, token: string, loadedTtlMs: number): Promise<boolean> {
    await this.cache.set(user.loaded, 1, loadedTtlMs);
    return this.locks.finishLock(user, token);
  }

  finishLock(user: StoreUser, token: string): Promise<boolean> {
    return this.locks.finishLock(user, token);
  }

  publish(kind: NoticeKind, user: StoreUser): Promise<void> {
    return this.locks.publish(kind, user);
  }

  /** Clears locks and counters; flags stay in the cache (clear it with the cache's own API). */
  reset(): Promise<void> {
    return this.locks.reset();
  }

  ping(): Promise<void> {
    return this.locks.ping();
  }

  /** The cache is the app's: it is never closed here. */
  close(): Promise<void> {
    return this.locks.close();
  }
}
