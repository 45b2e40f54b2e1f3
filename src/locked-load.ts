import {
  errorText,
  LoadLeaseLostError,
  LoadStatusShutdownError,
  StoreUnreachableError,
} from './errors';
import {
  elapsed,
  loadContext,
  type FlightCall,
  type FlightSettings,
  type Grant,
  type LoadOutcome,
} from './flight';
import type { Flights } from './flights';
import { HeldLoadLock } from './load-lock';
import type { LoadStatusCore } from './load-status.core';
import type { UserKeys } from './keys';
import type { FinishRequest, FinishResult } from './stores/load-store';

/**
 * Step 4 of the load-once flow, for the caller that won the lock: run the loader with the lease
 * kept alive, then finish in one step (flag, release if still ours, notify) — or, on failure,
 * release at once so a waiter can take over.
 */
export async function runLocked<T>(
  flights: Flights,
  { userId, keys, loader, settings }: FlightCall<T>,
  grant: Grant,
): Promise<LoadOutcome<T>> {
  const { core } = flights;
  const { fencingToken, token } = grant;
  const controller = new AbortController();
  const lock = new HeldLoadLock(core, {
    userId,
    keys,
    token,
    ttlMs: settings.lockTtlMs,
    grant,
    onReleased: (l) => flights.released(l),
  });
  flights.holding(lock, controller);
  const { events } = core;
  lock.announce();
  const stopKeepAlive = keepLeaseAlive(core, lock, settings.lockTtlMs, controller);
  const started = performance.now();
  core.logger.debug(`loading user ${JSON.stringify(userId)} (fencing token ${fencingToken})`);
  events.emit({ type: 'load-started', userId, load: keys.load, fencingToken });
  const loadFailed = (error: unknown): void =>
    events.emit({
      type: 'load-failed',
      userId,
      load: keys.load,
      fencingToken,
      durationMs: elapsed(started),
      error,
    });
  let value: T;
  const ctx = loadContext(userId, fencingToken, controller.signal, settings.loadedTtlMs);
  try {
    value = await loader(ctx);
    warnIfAlwaysRefreshing(core, ctx.loadedTtlMs, settings.refreshAheadMs);
  } catch (error) {
    stopKeepAlive();
    loadFailed(error);
    await releaseQuietly(core, lock);
    throw error;
  }
  stopKeepAlive();
  if (core.isClosing || lock.isReleased) {
    // Shutdown released the lock already; another process loads instead.
    lock.settled();
    const error = new LoadStatusShutdownError(userId);
    loadFailed(error);
    throw error;
  }
  let owned: boolean;
  try {
    ({ owned } = await finishRidingOut(core, keys, token, settings, {
      loadedTtlMs: ctx.loadedTtlMs,
      generation: grant.generation,
    }));
  } catch (error) {
    loadFailed(error);
    // The finish may not have run: give the lock back so waiters need not sit out the lease.
    await releaseQuietly(core, lock);
    throw error;
  } finally {
    lock.settled();
  }
  const durationMs = elapsed(started);
  if (!owned) {
    core.logger.warn(
      `lease for user ${JSON.stringify(userId)} was lost before the load finished (fencing token ${fencingToken})`,
    );
    if (!(controller.signal.reason instanceof LoadLeaseLostError)) {
      events.emit({ type: 'lease-lost', userId, load: keys.load, fencingToken });
    }
  }
  events.emit({ type: 'lock-released', userId, load: keys.load, fencingToken, owned });
  events.emit({ type: 'load-succeeded', userId, load: keys.load, fencingToken, durationMs });
  return { status: 'loaded', value, fencingToken, shared: false, durationMs };
}

/**
 * The refreshing state: a refresh-ahead load under our lock, not awaited by anyone (the caller
 * was answered already-loaded): its value goes nowhere; the flag's TTL starts again when it
 * succeeds. Shutdown aborts its signal and releases its lock, like any running loader's.
 */
export function refreshInBackground(
  flights: Flights,
  call: FlightCall<unknown>,
  grant: Grant,
): void {
  const { events, logger } = flights.core;
  const { userId, keys } = call;
  const { fencingToken } = grant;
  const started = performance.now();
  events.emit({
    type: 'refresh-started',
    userId,
    load: keys.load,
    fencingToken,
    remainingMs: grant.refreshOf!,
  });
  runLocked(flights, call, grant).then(
    () =>
      events.emit({
        type: 'refreshed',
        userId,
        load: keys.load,
        fencingToken,
        durationMs: elapsed(started),
      }),
    (error: unknown) => {
      if (error instanceof LoadStatusShutdownError) return;
      logger.warn(
        `refresh-ahead of user ${JSON.stringify(userId)} failed (${errorText(error)}); the flag runs out as usual`,
      );
      events.emit({
        type: 'refresh-failed',
        userId,
        load: keys.load,
        fencingToken,
        durationMs: elapsed(started),
        error,
      });
    },
  );
}

/**
 * The finish, riding out an unreachable store (a failover) for `outageGraceMs`: retried every
 * `pollIntervalMs`, so the flag reaches the new master and waiters need not load again; after
 * the grace (or once shutdown began) the store-error policy applies.
 */
async function finishRidingOut(
  core: LoadStatusCore,
  keys: UserKeys,
  token: string,
  settings: FlightSettings,
  request: Omit<FinishRequest, 'rideOut'>,
): Promise<FinishResult> {
  const since = performance.now();
  for (;;) {
    // (An outageGraceMs of 0 never rides out: no time is below it.)
    const rideOut = !core.isClosing && performance.now() - since < settings.outageGraceMs;
    try {
      return await core.store.finish(keys, token, { ...request, rideOut });
    } catch (error) {
      if (!(error instanceof StoreUnreachableError)) throw error;
      await new Promise((resolve) => setTimeout(resolve, core.options.pollIntervalMs));
    }
  }
}

/**
 * A flag that starts inside its own refresh window is refreshed by every call: say so, once per
 * registration. (With refresh-ahead off, `aheadMs` is 0 and every TTL is 0 or above it.)
 */
function warnIfAlwaysRefreshing(core: LoadStatusCore, ttlMs: number, aheadMs: number): void {
  if (ttlMs === 0 || ttlMs > aheadMs) return;
  core.warnOnce(
    'always-refreshing',
    () =>
      `a load set a flag TTL of ${ttlMs} ms, not above refreshAheadMs (${aheadMs} ms): every call will refresh such a user in the background; keep TTLs above refreshAheadMs`,
  );
}

/** Extends the lease every third of it; aborts the loader's signal if the lease was lost. */
function keepLeaseAlive(
  core: LoadStatusCore,
  lock: HeldLoadLock,
  ttlMs: number,
  controller: AbortController,
): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const interval = Math.max(1, Math.floor(ttlMs / 3));
  const tick = async (): Promise<void> => {
    // Aborted (shutdown released the lock, or the lease is gone): nothing left to keep alive.
    if (stopped || controller.signal.aborted) return;
    try {
      const ours = await lock.extend(ttlMs);
      if (!ours && !stopped && !controller.signal.aborted) {
        const error = new LoadLeaseLostError(lock.userId, lock.fencingToken);
        core.logger.warn(error.message);
        core.events.emit({
          type: 'lease-lost',
          userId: lock.userId,
          load: lock.load,
          fencingToken: lock.fencingToken,
        });
        controller.abort(error);
        return;
      }
    } catch (error) {
      core.logger.warn(
        `could not extend the lease for user ${JSON.stringify(lock.userId)}: ${errorText(error)}`,
      );
    }
    if (!stopped) timer = setTimeout(() => void tick(), interval);
  };
  timer = setTimeout(() => void tick(), interval);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

async function releaseQuietly(core: LoadStatusCore, lock: HeldLoadLock): Promise<void> {
  try {
    await lock.release();
  } catch (error) {
    core.logger.warn(
      `could not release the lock for user ${JSON.stringify(lock.userId)}: ${errorText(error)}; it expires with its lease`,
    );
  }
}
