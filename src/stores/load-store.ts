import type { NoticeKind, UserKeys } from '../keys';

/**
 * Why a call to a remote store (Redis) failed, as far as it matters to the store-error policy:
 * - `unreachable`: an outage (refused, reset, timed out, closed) — `onStoreError` applies;
 * - `rejected`: Redis answered, and said no — wrong credentials, a missing ACL permission, a
 *   TLS setup that cannot work, a script or type error on our keys. No policy makes it right to
 *   go on without coordination, so it is reported as a misconfiguration.
 */
export type StoreFailureKind = 'unreachable' | 'rejected';

export interface StoreFailure {
  readonly kind: StoreFailureKind;
  /** The cause in a few words, e.g. `WRONGPASS` or `TLS: SELF_SIGNED_CERT_IN_CHAIN`. */
  readonly reason: string;
  /** What to change, for a rejection. */
  readonly fix?: string;
}

/** What to do when the store (Redis) cannot be reached (the module's `onStoreError`). */
export type OnStoreError = 'fail-open' | 'fail-closed';

/** What a store call that can wait out an outage may ask for. */
export interface OutageRequest {
  /**
   * The caller rides out an outage (see `outageGraceMs`): an unreachable store throws
   * `StoreUnreachableError` instead of applying `onStoreError`. Only a store with an error policy
   * (`GuardedLoadStore`) reads it; adapters ignore it, and wrappers pass the request on whole.
   */
  readonly rideOut?: boolean;
}

/** What one {@link LoadStore.acquire} asks for. */
export interface AcquireRequest extends OutageRequest {
  /** The lease in ms, if the lock is taken. */
  readonly ttlMs: number;
  /** Report the loaded flag first: a set flag answers `loaded` and takes no lock. */
  readonly checkFlag: boolean;
  /**
   * With `checkFlag`: a flag with less than this left takes the lock to refresh ahead (or, if
   * held, reports `refreshing`). 0 or undefined: off.
   */
  readonly refreshAheadMs?: number;
}

/** What one {@link LoadStore.finish} asks for. */
export interface FinishRequest extends OutageRequest {
  /** How long the loaded flag lives, in ms; 0 deletes it instead. */
  readonly loadedTtlMs: number;
  /**
   * The generation the acquire reported: a load from before a `clearAllLoaded` sets no flag.
   * Undefined: the load counts whatever ran meanwhile.
   */
  readonly generation?: string;
}

/** Result of one acquire attempt: the flag was set, we won the lock, or someone holds it. */
export type AcquireResult =
  | {
      readonly state: 'loaded';
      readonly remainingMs: number;
      /** In the refresh-ahead window, and someone holds the lock: a refresh is under way. */
      readonly refreshing?: boolean;
    }
  | {
      readonly state: 'acquired';
      readonly fencingToken: number;
      /**
       * The lock state that granted the lease: leases with the same incarnation come from one
       * continuous state (one Redis lineage, or one process's memory store); a new one means
       * the state before it was lost.
       */
      readonly incarnation: string;
      /**
       * The flags' generation when the lock was taken (see `clearAllLoaded`): the finish sets the
       * flag only if it is still current. Undefined where the store keeps none.
       */
      readonly generation?: string;
      /**
       * Taken to refresh ahead: the flag is still set, with this many ms left (the caller is
       * served already-loaded; the load runs in the background). Undefined for a cold load.
       */
      readonly refreshOf?: number;
    }
  | {
      readonly state: 'held';
      readonly remainingMs: number;
      /**
       * The holder's lock token, where the store reports it: only that holder's 'loaded' notice
       * ends a wait outright (an older one, delivered late, only asks for a re-check).
       */
      readonly holder?: string;
    }
  /**
   * Taken, but fewer replicas than `waitForReplicas` acknowledged it in time: given back at
   * once and not to be used; try again later.
   */
  | { readonly state: 'unreplicated'; readonly acks: number; readonly replicas: number };

/** What a finish did. */
export interface FinishResult {
  readonly owned: boolean;
  readonly committed: boolean;
}

/** A notification seen on the store's channel, for the user with encoded id `tag`. */
export interface StoreNotice {
  readonly kind: NoticeKind;
  readonly tag: string;
  /** A 'loaded' notice from a finish: the lock token of the load that wrote the flag. */
  readonly holder?: string;
}

export interface StoreListener {
  notice(notice: StoreNotice): void;
  /** The channel (re)connected: notices may have been lost while it was down. */
  resubscribed(): void;
}

/**
 * The internal port every store adapter implements. Users are passed as encoded tags and key
 * sets from `keys.ts`; adapters never build keys themselves.
 */
export interface LoadStore {
  readonly kind: 'memory' | 'redis' | 'cache-manager';
  /** Connects and subscribes; resolves once notifications flow. */
  init(listener: StoreListener): Promise<void>;
  /** True while the backing service fails and calls are served (or refused) by the error policy. */
  readonly isDegraded: boolean;
  /** True while notifications are expected to arrive (no notice can have been missed). */
  readonly notificationsLive: boolean;
  /**
   * Set while the backing service refuses the module (credentials, ACL, TLS): a
   * misconfiguration, reported as such (health `down`, typed errors), never served by a policy.
   */
  readonly rejection: StoreFailure | undefined;
  /** Why a boot that could not connect failed, if the server refused it (Redis stores). */
  bootRejection?(): StoreFailure | undefined;
  /** How notices travel: in process, classic pub/sub, or shard-local (with why not, if not). */
  readonly notices: NoticePath;
  /**
   * The flag's remaining lifetime in ms, or undefined when it is not set. A flag without expiry
   * (set by hand) reports `Number.MAX_SAFE_INTEGER`. With `watchMs`, an unset flag also marks the
   * user as waited on for that long, so a finish elsewhere publishes its notice.
   */
  flagTtl(user: UserKeys, watchMs?: number): Promise<number | undefined>;
  setLoaded(user: UserKeys, ttlMs: number): Promise<void>;
  clearLoaded(user: UserKeys): Promise<void>;
  /**
   * One round trip: reports the flag (when `request.checkFlag`), or takes the lock and bumps the
   * fencing counter, or reports the holder's remaining lease.
   */
  acquire(user: UserKeys, token: string, request: AcquireRequest): Promise<AcquireResult>;
  /** Extends the lease if `token` still owns the lock. */
  extend(user: UserKeys, token: string, ttlMs: number): Promise<boolean>;
  /** Deletes the lock if `token` owns it and tells waiters to try again. */
  release(user: UserKeys, token: string): Promise<boolean>;
  /**
   * Atomically: sets the flag (`request.loadedTtlMs` 0: deletes it), releases the lock if `token`
   * owns it, notifies. `owned`: the lock was still ours; `committed`: the load counts (false when
   * a `clearAllLoaded` ran since its acquire: no flag was written and waiters were told to retry).
   */
  finish(user: UserKeys, token: string, request: FinishRequest): Promise<FinishResult>;
  /**
   * Every flag of the prefix reads as not loaded from now on, in every process (a notice drops
   * near-caches): O(1) in the number of users.
   */
  clearAllLoaded(): Promise<void>;
  /**
   * Every flag of the load `name` reads as not loaded from now on, in every process (a notice
   * drops near-caches). Deletes the flags it finds (SCAN on Redis: O(keys of the prefix)); a load
   * of that name finishing meanwhile may still set its flag.
   */
  clearLoad(name: string): Promise<void>;
  /**
   * Adds `name` to the store's registry of load names (idempotent), which `loadNames` reads: what
   * "every load of a key" means across processes. Called before a load of that name writes.
   */
  registerLoad(name: string): Promise<void>;
  /** The names in the registry of loads, in the order they were first registered. */
  loadNames(): Promise<string[]>;
  /**
   * For stores whose flags live elsewhere (cache-manager): deletes the lock if `token` owns it and
   * tells waiters the user is loaded, whether or not the lock was still ours. Returns ownership.
   */
  finishLock(user: UserKeys, token: string): Promise<boolean>;
  /** Publishes a notice without touching any key. */
  publish(kind: NoticeKind, user: UserKeys): Promise<void>;
  /** Deletes every flag, lock and fencing counter of this store's prefix (tests). */
  reset(): Promise<void>;
  /** Round trip to the backing service, bypassing any fallback; rejects when it is unreachable. */
  ping(): Promise<void>;
  /** Closes what the store created; borrowed clients stay open. */
  close(): Promise<void>;
}

/**
 * A store in another service (Redis), which the store-error policy guards: it says itself what
 * one of its client's errors means, so nothing above it knows the service's errors.
 */
export interface RemoteLoadStore extends LoadStore {
  classify(error: unknown): StoreFailure;
}

export interface NoticePath {
  readonly mode: 'in-process' | 'classic' | 'sharded';
  /** Why a Cluster uses classic pub/sub: what the server or the client lacks. */
  readonly reason?: string;
}
