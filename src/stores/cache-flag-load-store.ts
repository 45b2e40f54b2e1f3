import { nestLogger, type LoadStatusLogger } from '../logger';
import { errorText, LoadStatusConfigError, LoadStatusUnavailableError } from '../errors';
import { NoticeKind, type UserKeys } from '../keys';
import { MAX_TTL_MS } from '../validation';
import { CommandDeadlines } from './command-deadlines';
import { DelegatingLoadStore } from './delegating-load-store';
import type {
  AcquireRequest,
  AcquireResult,
  FinishRequest,
  FinishResult,
  LoadStore,
  OnStoreError,
} from './load-store';

/** The lease an ownership check in `finish` sets (finishLock deletes the lock right after). */
const OWNERSHIP_CHECK_LEASE_MS = 1_000;

/**
 * The part of a cache-manager 6 or 7 `Cache` this store uses; any object with these methods
 * works. TTLs are in ms; `ttl(key)` returns the expiry time (ms since the epoch). A miss is
 * `undefined` (cache-manager 7) or `null` (cache-manager 6).
 */
export interface FlagCache {
  get<T>(key: string): Promise<T | undefined | null>;
  set<T>(key: string, value: T, ttl?: number): Promise<T>;
  del(key: string): Promise<boolean>;
  ttl(key: string): Promise<number | undefined | null>;
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

/** How a {@link CacheFlagLoadStore} runs: the module's settings (it keeps no defaults of its own). */
export interface CacheFlagStoreOptions {
  /** Cache errors and timeouts follow the module's store-error policy too. */
  readonly onStoreError: OnStoreError;
  readonly commandTimeoutMs: number;
  /**
   * Where the flags' generation lives in the cache (`clearAllLoaded` moves it on; a flag holds
   * the generation it was set in and counts only while that is current).
   */
  readonly generationKey: string;
  /** The clock the cache's expiry times are read against. @default Date.now */
  readonly now?: () => number;
  readonly logger?: LoadStatusLogger;
}

/**
 * Loaded flags in the app's cache-manager `Cache`, so a flag expires or is deleted together with
 * the data it guards; locks, fencing and notifications from `locks` (Redis or memory), to which
 * every other member is forwarded: `reset()` clears locks and counters, and flags stay in the
 * cache (clear it with the cache's own API).
 *
 * Not one atomic step as with Redis alone: the flag is written before the lock is released (so a
 * caller that takes the lock next always sees it), and a caller that wins the lock re-checks the
 * flag before loading.
 */
export class CacheFlagLoadStore extends DelegatingLoadStore {
  private readonly deadlines: CommandDeadlines;
  private failing = false;

  private readonly policy: OnStoreError;
  private readonly now: () => number;
  private readonly generationKey: string;
  private readonly logger: LoadStatusLogger;

  constructor(
    private readonly cache: FlagCache,
    locks: LoadStore,
    options: CacheFlagStoreOptions,
  ) {
    super(locks);
    this.policy = options.onStoreError;
    this.now = options.now ?? Date.now;
    this.generationKey = options.generationKey;
    this.logger = options.logger ?? nestLogger();
    this.deadlines = CommandDeadlines.forStore(options.commandTimeoutMs);
  }

  /**
   * One cache call, bounded by `commandTimeoutMs`. On failure, fail-closed throws
   * `LoadStatusUnavailableError`; fail-open answers `otherwise` (a read: "not loaded", so the lock
   * still coordinates the load; a write: skipped).
   */
  private async guard<T>(operation: string, call: () => Promise<T>, otherwise: T): Promise<T> {
    try {
      const result = await this.deadlines.bound(operation, call());
      if (this.failing) {
        this.failing = false;
        this.logger.log('cache reachable again');
      }
      return result;
    } catch (error) {
      if (this.policy === 'fail-closed') {
        throw error instanceof LoadStatusUnavailableError
          ? error
          : new LoadStatusUnavailableError(operation, error);
      }
      if (!this.failing) {
        this.failing = true;
        this.logger.warn(
          `cache error during ${operation} (${errorText(error)}); flags read as not loaded meanwhile`,
        );
      }
      return otherwise;
    }
  }

  override get kind(): 'cache-manager' {
    return 'cache-manager';
  }

  override async flagTtl(user: UserKeys, watchMs?: number): Promise<number | undefined> {
    const remaining = await this.cachedFlagTtl(user);
    // Not loaded and asked to watch: mark the user as waited on in the lock store.
    if (remaining === undefined && watchMs !== undefined) await this.inner.flagTtl(user, watchMs);
    return remaining;
  }

  private cachedFlagTtl(user: UserKeys): Promise<number | undefined> {
    return this.guard(
      'isLoaded',
      async () => {
        const [value, generation, expiresAt] = await Promise.all([
          this.cache.get(user.loaded),
          this.readGeneration(),
          this.cache.ttl(user.loaded),
        ]);
        // A miss (undefined or null) never equals a generation ('1' or a number's string).
        if (String(value) !== generation) return undefined;
        if (typeof expiresAt !== 'number') return Number.MAX_SAFE_INTEGER; // kept forever
        const left = expiresAt - this.now();
        return left > 0 ? left : undefined;
      },
      undefined,
    );
  }

  /** The current generation ('1' until the first `clearAllLoaded`). */
  private async readGeneration(): Promise<string> {
    const value = await this.cache.get(this.generationKey);
    return value === undefined || value === null ? '1' : `${value as string | number}`;
  }

  private generation(): Promise<string> {
    return this.guard('isLoaded', () => this.readGeneration(), '1');
  }

  private setFlag(user: UserKeys, ttlMs: number, generation?: string): Promise<unknown> {
    return this.guard(
      'setLoaded',
      async () => this.cache.set(user.loaded, generation ?? (await this.readGeneration()), ttlMs),
      undefined,
    );
  }

  override async setLoaded(user: UserKeys, ttlMs: number): Promise<void> {
    await this.setFlag(user, ttlMs);
    await this.inner.publish(NoticeKind.Loaded, user);
  }

  override async clearLoaded(user: UserKeys): Promise<void> {
    await this.guard('clearLoaded', () => this.cache.del(user.loaded), false);
    await this.inner.publish(NoticeKind.Cleared, user);
  }

  override async acquire(
    user: UserKeys,
    token: string,
    request: AcquireRequest,
  ): Promise<AcquireResult> {
    const { checkFlag, refreshAheadMs = 0 } = request;
    // The lock store holds no flags here: it is asked for the lock only.
    const lockOnly: AcquireRequest = { ...request, checkFlag: false };
    if (checkFlag) {
      const remainingMs = await this.flagTtl(user);
      if (remainingMs !== undefined && remainingMs >= refreshAheadMs)
        return { state: 'loaded', remainingMs };
      if (remainingMs !== undefined) {
        // In the refresh window: whoever takes the lock refreshes; the rest are served as loaded.
        const [result, generation] = await Promise.all([
          this.inner.acquire(user, token, lockOnly),
          this.generation(),
        ]);
        if (result.state === 'acquired') return { ...result, generation, refreshOf: remainingMs };
        return { state: 'loaded', remainingMs, refreshing: result.state === 'held' };
      }
    }
    const result = await this.inner.acquire(user, token, lockOnly);
    if (!checkFlag || result.state !== 'acquired') return result;
    // Someone may have finished between our flag read and the lock: they set the flag first.
    const [remainingMs, generation] = await Promise.all([this.flagTtl(user), this.generation()]);
    if (remainingMs === undefined) return { ...result, generation };
    await this.inner.finishLock(user, token);
    return { state: 'loaded', remainingMs };
  }

  /** A cache cannot be listed: the flags of one load cannot be found to delete them. */
  override clearLoad(name: string): Promise<void> {
    return Promise.reject(
      new LoadStatusConfigError(
        'clearAllLoaded({ name })',
        `cannot clear every flag of the load ${JSON.stringify(name)} while flags live in a cache-manager cache (a cache cannot be listed); delete the cached data itself, or clear every load with clearAllLoaded()`,
      ),
    );
  }

  override async finish(
    user: UserKeys,
    token: string,
    { loadedTtlMs, generation }: FinishRequest,
  ): Promise<FinishResult> {
    // Begun before a clearAllLoaded: no flag, and waiters retry (they load in the new generation).
    if (generation !== undefined && generation !== (await this.generation()))
      return { owned: await this.inner.release(user, token), committed: false };
    // A holder that lost the lock leaves a later load's flag alone (see the Redis store's finish);
    // whether the lock is still ours is asked only when a flag is there (refresh-ahead, or late).
    const later =
      (await this.flagTtl(user)) !== undefined &&
      !(await this.inner.extend(user, token, OWNERSHIP_CHECK_LEASE_MS));
    // The acquire's generation: a clear between our check and this write leaves it stale.
    if (!later && loadedTtlMs > 0) await this.setFlag(user, loadedTtlMs, generation);
    else if (!later) await this.guard('clearLoaded', () => this.cache.del(user.loaded), false);
    return { owned: await this.inner.finishLock(user, token), committed: true };
  }

  /**
   * Moves the cache's generation on (one key, kept as long as any flag can live), then tells
   * every process through the lock store.
   */
  override async clearAllLoaded(): Promise<void> {
    // Never skipped, whatever the policy: an invalidation the cache did not get would be lost.
    const bump = async (): Promise<void> => {
      const next = (Number.parseInt(await this.readGeneration(), 10) || 1) + 1;
      await this.cache.set(this.generationKey, String(next), MAX_TTL_MS);
    };
    try {
      await this.deadlines.bound('clearAllLoaded', bump());
    } catch (error) {
      throw error instanceof LoadStatusUnavailableError
        ? error
        : new LoadStatusUnavailableError('clearAllLoaded', error);
    }
    await this.inner.clearAllLoaded();
  }

  /** The cache is the app's: it is never closed here. */
  override close(): Promise<void> {
    this.deadlines.close();
    return this.inner.close();
  }
}
