/**
 * The vocabulary of one flight (one user's load in this process): what a loader is given and
 * returns, how a call ends, the per-call settings, and the hooks the service lends a flight.
 * `load-flow.ts` (checking, waiting) and `locked-load.ts` (holding) both speak it, so the waiting
 * side imports the holding side and never the other way round.
 */
import type { HeldLoadLock } from './load-lock';
import type { LoadStatusCore } from './load-status.core';
import type { OnWaitTimeout } from './load-status.options';
import type { UserKeys } from './keys';
import type { AcquireResult, LoadStore } from './stores/load-store';
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

/** Hooks the service gives a flight so shutdown can find its lock and its loader. */
export interface FlightHost {
  readonly core: LoadStatusCore;
  nextToken(): string;
  /** The store's acquire, tracked so shutdown can wait for it; a lock won while closing is given back. */
  acquire: LoadStore['acquire'];
  /**
   * Runs a refresh-ahead load (the lock is ours, the user still loaded) in the background: the
   * caller is answered already-loaded, and nobody receives the value.
   */
  refreshInBackground(
    userId: string,
    keys: UserKeys,
    token: string,
    grant: AcquireResult & { state: 'acquired'; sentAt: number },
    loader: Loader<unknown>,
    settings: FlightSettings,
  ): void;
  /** `lock` undefined: a loader running without the lock (`onWaitTimeout: 'run'`). */
  track(lock: HeldLoadLock | undefined, controller: AbortController): void;
  untrack(lock: HeldLoadLock | undefined, controller?: AbortController): void;
}

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
