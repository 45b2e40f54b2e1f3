/**
 * The module's options as an app writes them (with their documentation and defaults), and as the
 * module holds them once read. Which options there are, their defaults and their checks come
 * from the options table (`./options/table.ts`); `test/types/options.types.ts` holds these
 * interfaces to it.
 */
import type { RedisSource } from './redis-source';
import type { FlagCache } from './stores/cache-flag-load-store';
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
