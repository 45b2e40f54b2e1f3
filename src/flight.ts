/**
 * The vocabulary of one flight (one user's load in this process): what a loader is given and
 * returns, how a call ends, the per-call settings, and the lock a flight won. The flow's states
 * (`load-flow.ts`) and the holding side (`locked-load.ts`) both speak it, so the waiting side
 * imports the holding side and never the other way round.
 */
import type { OnWaitTimeout } from './load-status.options';
import type { UserKeys } from './keys';
import type { AcquireResult } from './stores/load-store';
import { checkDurationMs } from './validation';

/** What the loader is told about its run. */
export interface LoadContext {
  readonly userId: string;
  /**
   * The lock's fencing token: strictly increasing per user. Storage that records it can reject a
   * write carrying an older one. `undefined` when the loader runs without the lock
   * (`onWaitTimeout: 'run'`).
   */
  readonly fencingToken: number | undefined;
  /** Aborts when the lease is lost or the module shuts down; the reason is a `LoadStatusError`. */
  readonly signal: AbortSignal;
  /**
   * Sets how long this load keeps the user loaded, from what was loaded (instead of the call's
   * `loadedTtlMs`): a whole number of ms from 0 to 2,147,483,647, else `LoadStatusConfigError`
   * (thrown here; the load then fails and the lock is given back). `0`: the load still serves the
   * callers waiting for it (they see `loaded-elsewhere`), but the user is not kept loaded — the
   * next call loads again. The last call before the loader returns wins.
   */
  setLoadedTtl(ms: number): void;
}

/** How an `ensureLoaded` call ended. */
export type LoadOutcome<T> =
  /** The loader ran for this call (`shared: false`) or for a concurrent call in this process that this call joined. */
  | {
      readonly status: 'loaded';
      readonly value: T;
      readonly fencingToken: number | undefined;
      readonly shared: boolean;
      readonly durationMs: number;
    }
  /** The user was already loaded; nothing ran and nothing waited. */
  | { readonly status: 'already-loaded' }
  /** Another caller (another process, or a lock holder here) loaded the user while this call waited. */
  | { readonly status: 'loaded-elsewhere'; readonly waitedMs: number };

/** The outcome of a call that found the user loaded (one frozen object: nothing to build). */
export const ALREADY_LOADED = Object.freeze({ status: 'already-loaded' as const });

export type Loader<T> = (ctx: LoadContext) => Promise<T> | T;

/** Per-call settings after defaults were applied. */
export interface FlightSettings {
  readonly loadedTtlMs: number;
  readonly lockTtlMs: number;
  readonly waitTimeoutMs: number;
  readonly onWaitTimeout: OnWaitTimeout;
  readonly outageGraceMs: number;
  /** 0: off. */
  readonly refreshAheadMs: number;
}

/** One caller's flight: which user, in which load, with which loader and settings. */
export interface FlightCall<T> {
  readonly userId: string;
  readonly keys: UserKeys;
  readonly loader: Loader<T>;
  readonly settings: FlightSettings;
}

/** A lock this caller won: the store's grant, the lock's token, and when the acquire was sent. */
export type Grant = Extract<AcquireResult, { state: 'acquired' }> & {
  readonly token: string;
  /** `performance.now()` when the acquire (or the renewal it rests on) was sent: the lease ran from then at the latest. */
  readonly sentAt: number;
};

/** The loader's context; `loadedTtlMs` is what `setLoadedTtl` last set (the call's by default). */
export function loadContext(
  userId: string,
  fencingToken: number | undefined,
  signal: AbortSignal,
  loadedTtlMs: number,
): LoadContext & { readonly loadedTtlMs: number } {
  let ttl = loadedTtlMs;
  return {
    userId,
    fencingToken,
    signal,
    get loadedTtlMs() {
      return ttl;
    },
    setLoadedTtl(ms: number) {
      ttl = checkDurationMs('ctx.setLoadedTtl(ms)', ms, 0);
    },
  };
}

/** Whole ms since `since` (a `performance.now()` reading). */
export function elapsed(since: number): number {
  return Math.round(performance.now() - since);
}
