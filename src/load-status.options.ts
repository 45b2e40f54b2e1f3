import { checkRedisSource, type RedisSource } from './redis-source';
import { describeValue, LoadStatusConfigError } from './errors';
import { checkDurationMs } from './validation';
import { isFlagCache, type FlagCache } from './stores/cache-flag-load-store';
import type { OnStoreError } from './stores/load-store';

/** What to do when a waiter's `waitTimeoutMs` runs out while another caller still loads. */
export type OnWaitTimeout = 'throw' | 'run';
export type { OnStoreError };

/** Options of {@link LoadStatusModule.forRoot}. Every field is optional. */
export interface LoadStatusModuleOptions {
  /**
   * Where flags and locks live. A URL (`redis://…`, `rediss://…`) or ioredis options make the
   * module create and own its connections (closed on shutdown): a URL with ioredis when it is
   * installed, else with node-redis. A client is borrowed (never closed): an ioredis `Redis` or
   * `Cluster`, or a connected node-redis client from `createClient()`, `createCluster()` or
   * `createSentinel()`. Absent: an in-memory store that coordinates one process only.
   * @default undefined (in-memory)
   */
  redis?: RedisSource;
  /**
   * Prefix of every Redis key and channel; use one per kind of data you load.
   * @default 'load-status'
   */
  keyPrefix?: string;
  /**
   * How long a user stays "loaded", in ms. Keep it equal to the TTL of the data it guards.
   * @default 3_600_000 (1 hour)
   */
  loadedTtlMs?: number;
  /**
   * Lease of the load lock, in ms. Auto-extended every `lockTtlMs / 3` while the loader runs, so
   * it bounds how long a crashed holder blocks others, not how long a load may take.
   * @default 3_000
   */
  lockTtlMs?: number;
  /**
   * How long a caller waits for another caller's load before `onWaitTimeout` applies, in ms.
   * Cover `lockTtlMs` plus two of your longest loads to survive a crashed holder without errors.
   * @default 15_000
   */
  waitTimeoutMs?: number;
  /**
   * Fallback re-check interval while waiting, in ms. Waiters are woken by notifications; this
   * re-check covers lost notifications (`waitForLoad` always; `ensureLoaded` while the
   * notification channel is down).
   * @default 100
   */
  pollIntervalMs?: number;
  /**
   * After waiting `waitTimeoutMs` in vain: `'throw'` a `LoadWaitTimeoutError`, or `'run'` the
   * loader in this caller without the lock (at-least-once instead of at-most-once).
   * @default 'throw'
   */
  onWaitTimeout?: OnWaitTimeout;
  /**
   * Store unreachable: `'fail-open'` degrades to in-process coordination (each process loads at
   * most once) and retries the store on every call; `'fail-closed'` throws
   * `LoadStatusUnavailableError`.
   * @default 'fail-open'
   */
  onStoreError?: OnStoreError;
  /**
   * Longest a single store command may take before it counts as a store error, in ms.
   * @default 1_000
   */
  commandTimeoutMs?: number;
  /**
   * How long a caller already in the flow rides out an unreachable store before `onStoreError`
   * applies, in ms: a caller waiting for another's load keeps waiting (re-checking every
   * `pollIntervalMs`), and a holder whose finish fails retries it, so a failover (or blip)
   * shorter than this costs no extra load and no error. New calls apply `onStoreError` at
   * once. `0`: no grace (every store error applies the policy at once).
   * @default 5_000
   */
  outageGraceMs?: number;
  /**
   * Refresh-ahead: a call that finds the user loaded with less than this left returns at once
   * (`already-loaded`), and one process in the cluster (the one that takes the lock) runs the
   * loader again in the background; on success the flag's TTL starts again, so an active user
   * never waits for a reload. No caller receives the refreshed value. A failed refresh emits
   * `refresh-failed` and logs a warning; the flag then runs out as usual. 0: off. Must be less
   * than `loadedTtlMs`.
   * @default 0 (off)
   */
  refreshAheadMs?: number;
  /**
   * Replica-acknowledged locks (like Redisson's synced locks): after taking a lock, WAIT until
   * `replicas` replicas have it, at most `timeoutMs`. Fewer acknowledgements: the lock is given
   * back and not used — the caller waits and retries as if it were held (and, after
   * `waitTimeoutMs`, gets `LoadWaitTimeoutError`). It closes the window in which a failover to a
   * replica that never saw the lock grants it a second time. Needs `timeoutMs` below
   * `commandTimeoutMs`.
   * @default undefined (off)
   */
  waitForReplicas?: WaitForReplicasOptions;
  /**
   * Process-local cache of "loaded" answers, so a hot user costs no Redis round trip. An entry
   * lives at most the flag's remaining TTL and `maxAgeMs`; every process drops it when any
   * process clears the flag, and all entries are dropped when the notification channel
   * reconnects (and bypassed while it is down). Only used with Redis.
   * @default { maxEntries: 10_000, maxAgeMs: 10_000 } (true)
   */
  nearCache?: boolean | NearCacheOptions;
  /**
   * Keep the loaded flags in a cache-manager 7 `Cache` instead of the store, so a flag expires or
   * is deleted together with the data it guards (`cache.del(flagKey)` makes the user load again).
   * `true` uses the app's `CACHE_MANAGER` (import `CacheModule` from `@nestjs/cache-manager`).
   * Locks, fencing and notifications still come from `redis`, else memory. Turns the near-cache
   * off (the cache can change behind its back).
   * @default undefined (flags live in the store)
   */
  cache?: true | FlagCache;
  /**
   * Which store coordinates the loads. `'redis'` needs the `redis` option and fails the boot
   * without it (so a missing `REDIS_URL` cannot quietly mean per-process loading); `'memory'`
   * says one process is meant and silences the boot warning. Left out, the `redis` option
   * decides, and without it the module warns once at boot that it coordinates one process only.
   * @default 'redis' when `redis` is given, else 'memory' (with a boot warning)
   */
  store?: StoreChoice;
}

/** {@link LoadStatusModuleOptions.store}: where loads are coordinated. */
export type StoreChoice = 'redis' | 'memory';

/**
 * Options of {@link LoadStatusModule.forRoot} and `forRootAsync` themselves, never of the
 * options they register (so never in what a `forRootAsync` factory returns: the module is
 * registered before the factory runs).
 */
export interface LoadStatusModuleExtras {
  /**
   * Register the module globally, so feature modules need not import it.
   * @default false
   */
  isGlobal?: boolean;
}

/** {@link LoadStatusModuleOptions.waitForReplicas}. */
export interface WaitForReplicasOptions {
  /** Replicas that must have the lock (1 to 100). */
  replicas: number;
  /**
   * Longest wait for them, in ms.
   * @default 100
   */
  timeoutMs?: number;
}

/** Sizing of the near-cache ({@link LoadStatusModuleOptions.nearCache}). */
export interface NearCacheOptions {
  /**
   * Most users remembered per process; the least recently used is dropped first.
   * @default 10_000
   */
  maxEntries?: number;
  /**
   * Longest an entry is trusted, in ms: the bound on staleness if a clear's notification is lost
   * without the subscriber noticing a disconnect.
   * @default 10_000
   */
  maxAgeMs?: number;
}

/** Options after defaults were merged and validated. */
export interface ResolvedLoadStatusOptions {
  readonly redis: RedisSource | undefined;
  readonly keyPrefix: string;
  readonly loadedTtlMs: number;
  readonly lockTtlMs: number;
  readonly waitTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly onWaitTimeout: OnWaitTimeout;
  readonly onStoreError: OnStoreError;
  readonly commandTimeoutMs: number;
  readonly outageGraceMs: number;
  readonly refreshAheadMs: number;
  readonly waitForReplicas: Required<WaitForReplicasOptions> | undefined;
  /** `false` when disabled. */
  readonly nearCache: Required<NearCacheOptions> | false;
  readonly cache: true | FlagCache | undefined;
  /** The store was chosen (`store`, or `redis` given): no boot warning about one process. */
  readonly storeChosen: boolean;
}

export const DEFAULT_KEY_PREFIX = 'load-status';
export const DEFAULT_LOADED_TTL_MS = 3_600_000;
export const DEFAULT_LOCK_TTL_MS = 3_000;
export const DEFAULT_WAIT_TIMEOUT_MS = 15_000;
export const DEFAULT_POLL_INTERVAL_MS = 100;
export const DEFAULT_ON_WAIT_TIMEOUT: OnWaitTimeout = 'throw';
export const DEFAULT_ON_STORE_ERROR: OnStoreError = 'fail-open';
export const DEFAULT_COMMAND_TIMEOUT_MS = 1_000;
export const DEFAULT_NEAR_CACHE_MAX_ENTRIES = 10_000;
export const DEFAULT_NEAR_CACHE_MAX_AGE_MS = 10_000;
export const DEFAULT_OUTAGE_GRACE_MS = 5_000;
export const DEFAULT_WAIT_FOR_REPLICAS_TIMEOUT_MS = 100;
/** Shortest lease: extensions run every third of it, and must outpace a Redis round trip. */
export const MIN_LOCK_TTL_MS = 30;

const KNOWN_OPTIONS = new Set([
  'redis',
  'keyPrefix',
  'loadedTtlMs',
  'lockTtlMs',
  'waitTimeoutMs',
  'pollIntervalMs',
  'onWaitTimeout',
  'onStoreError',
  'commandTimeoutMs',
  'outageGraceMs',
  'refreshAheadMs',
  'waitForReplicas',
  'nearCache',
  'cache',
  'store',
]);

/** Merges defaults and validates once, at module creation. */
export function resolveOptions(
  options: LoadStatusModuleOptions | undefined | null,
): ResolvedLoadStatusOptions {
  const o = options ?? {};
  if (typeof o !== 'object' || Array.isArray(o)) {
    throw new LoadStatusConfigError('options', `expected an object, got ${describeValue(o)}`);
  }
  for (const key of Object.keys(o)) {
    if (key === 'isGlobal') {
      // forRoot() takes it off the options before they reach here: it came from a factory.
      throw new LoadStatusConfigError(
        'isGlobal',
        'a forRootAsync() factory returned it, where it cannot take effect (the module is registered before the factory runs); pass it to forRootAsync({ isGlobal, useFactory }) itself',
      );
    }
    if (!KNOWN_OPTIONS.has(key)) {
      throw new LoadStatusConfigError(
        key,
        `unknown option; known options are ${[...KNOWN_OPTIONS].join(', ')}`,
      );
    }
  }
  const keyPrefix = orDefault(o.keyPrefix, DEFAULT_KEY_PREFIX);
  if (
    typeof keyPrefix !== 'string' ||
    keyPrefix.length === 0 ||
    keyPrefix.length > 256 ||
    // Braces would move the Cluster hash tag; glob characters would widen the ACL key and
    // channel patterns (`~<prefix>:*`) and the SCAN of reset(); whitespace and control
    // characters have no place in a key name.
    // eslint-disable-next-line no-control-regex
    /[{}\s*?[\]\\\x00-\x1f\x7f]/.test(keyPrefix)
  ) {
    throw new LoadStatusConfigError(
      'keyPrefix',
      `expected 1 to 256 characters without braces, whitespace, control or glob characters (* ? [ ] \\), got ${describeValue(keyPrefix)}`,
    );
  }
  const redis = o.redis;
  if (redis !== undefined) checkRedisSource(redis);
  const lockTtlMs = checkDurationMs(
    'lockTtlMs',
    orDefault(o.lockTtlMs, DEFAULT_LOCK_TTL_MS),
    MIN_LOCK_TTL_MS,
  );
  const commandTimeoutMs = checkDurationMs(
    'commandTimeoutMs',
    orDefault(o.commandTimeoutMs, DEFAULT_COMMAND_TIMEOUT_MS),
  );
  const loadedTtlMs = checkDurationMs(
    'loadedTtlMs',
    orDefault(o.loadedTtlMs, DEFAULT_LOADED_TTL_MS),
  );
  const resolved: ResolvedLoadStatusOptions = {
    redis,
    keyPrefix,
    loadedTtlMs,
    refreshAheadMs: checkRefreshAheadMs(
      'refreshAheadMs',
      orDefault(o.refreshAheadMs, 0),
      loadedTtlMs,
    ),
    lockTtlMs,
    waitTimeoutMs: checkDurationMs(
      'waitTimeoutMs',
      orDefault(o.waitTimeoutMs, DEFAULT_WAIT_TIMEOUT_MS),
      0,
    ),
    pollIntervalMs: checkDurationMs(
      'pollIntervalMs',
      orDefault(o.pollIntervalMs, DEFAULT_POLL_INTERVAL_MS),
    ),
    onWaitTimeout: oneOf('onWaitTimeout', orDefault(o.onWaitTimeout, DEFAULT_ON_WAIT_TIMEOUT), [
      'throw',
      'run',
    ]),
    onStoreError: oneOf('onStoreError', orDefault(o.onStoreError, DEFAULT_ON_STORE_ERROR), [
      'fail-open',
      'fail-closed',
    ]),
    commandTimeoutMs,
    outageGraceMs: checkDurationMs(
      'outageGraceMs',
      orDefault(o.outageGraceMs, DEFAULT_OUTAGE_GRACE_MS),
      0,
    ),
    waitForReplicas: resolveWaitForReplicas(o.waitForReplicas, commandTimeoutMs),
    nearCache: o.cache === undefined ? resolveNearCache(o.nearCache) : false,
    cache: resolveCache(o.cache),
    storeChosen: resolveStoreChoice(o.store, redis) !== undefined,
  };
  return resolved;
}

/** `value`, or `fallback` when the option is absent. A `null` is a value (and fails validation). */
function orDefault<T>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}

export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new LoadStatusConfigError(
      name,
      `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describeValue(value)}`,
    );
  }
  return value as T;
}

function resolveNearCache(value: unknown): Required<NearCacheOptions> | false {
  if (value === false) return false;
  if (value === undefined || value === true) {
    return { maxEntries: DEFAULT_NEAR_CACHE_MAX_ENTRIES, maxAgeMs: DEFAULT_NEAR_CACHE_MAX_AGE_MS };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LoadStatusConfigError(
      'nearCache',
      `expected a boolean or { maxEntries, maxAgeMs }, got ${describeValue(value)}`,
    );
  }
  const {
    maxEntries = DEFAULT_NEAR_CACHE_MAX_ENTRIES,
    maxAgeMs = DEFAULT_NEAR_CACHE_MAX_AGE_MS,
    ...rest
  } = value as NearCacheOptions;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined)
    throw new LoadStatusConfigError(
      `nearCache.${unknown}`,
      'unknown option; known options are maxEntries, maxAgeMs',
    );
  if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > 10_000_000) {
    throw new LoadStatusConfigError(
      'nearCache.maxEntries',
      `expected a whole number from 1 to 10000000, got ${describeValue(maxEntries)}`,
    );
  }
  return { maxEntries, maxAgeMs: checkDurationMs('nearCache.maxAgeMs', maxAgeMs) };
}

function resolveWaitForReplicas(
  value: unknown,
  commandTimeoutMs: number,
): Required<WaitForReplicasOptions> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LoadStatusConfigError(
      'waitForReplicas',
      `expected { replicas, timeoutMs? }, got ${describeValue(value)}`,
    );
  }
  const {
    replicas,
    timeoutMs = DEFAULT_WAIT_FOR_REPLICAS_TIMEOUT_MS,
    ...rest
  } = value as WaitForReplicasOptions;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) {
    throw new LoadStatusConfigError(
      `waitForReplicas.${unknown}`,
      'unknown option; known options are replicas, timeoutMs',
    );
  }
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 100) {
    throw new LoadStatusConfigError(
      'waitForReplicas.replicas',
      `expected a whole number from 1 to 100, got ${describeValue(replicas)}`,
    );
  }
  checkDurationMs('waitForReplicas.timeoutMs', timeoutMs);
  if (timeoutMs >= commandTimeoutMs) {
    throw new LoadStatusConfigError(
      'waitForReplicas.timeoutMs',
      `expected less than commandTimeoutMs (${commandTimeoutMs}), got ${timeoutMs}`,
    );
  }
  return { replicas, timeoutMs };
}

/** The store the options name: `store`, else `'redis'` when `redis` is given; else undefined. */
function resolveStoreChoice(store: unknown, redis: unknown): StoreChoice | undefined {
  if (store === undefined) return redis === undefined ? undefined : 'redis';
  const choice = oneOf('store', store, ['redis', 'memory']);
  if (choice === 'redis' && redis === undefined) {
    throw new LoadStatusConfigError(
      'store',
      "'redis' needs the redis option, and it is missing (an unset REDIS_URL?); give redis a URL, options or a client, or choose store: 'memory' for one process",
    );
  }
  if (choice === 'memory' && redis !== undefined) {
    throw new LoadStatusConfigError(
      'store',
      "'memory' keeps every flag and lock in this process, yet the redis option is given too; drop one of them",
    );
  }
  return choice;
}

function resolveCache(value: unknown): true | FlagCache | undefined {
  if (value === undefined || value === true || isFlagCache(value)) return value;
  throw new LoadStatusConfigError(
    'cache',
    `expected true (the app's CACHE_MANAGER) or a cache-manager Cache with get, set, del and ttl, got ${describeValue(value)}`,
  );
}

/** `refreshAheadMs`: 0 (off) or a whole number of ms below `loadedTtlMs`. */
export function checkRefreshAheadMs(name: string, value: unknown, loadedTtlMs: number): number {
  const ms = checkDurationMs(name, value, 0);
  if (ms >= loadedTtlMs)
    throw new LoadStatusConfigError(
      name,
      `expected less than loadedTtlMs (${loadedTtlMs}), got ${ms}: every call would refresh`,
    );
  return ms;
}
