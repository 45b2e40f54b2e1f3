import { LoadWaitTimeoutError, StoreUnreachableError } from './errors';
import {
  ALREADY_LOADED,
  elapsed,
  loadContext,
  type FlightHost,
  type FlightSettings,
  type Loader,
  type LoadOutcome,
} from './flight';
import { runLocked } from './locked-load';
import type { UserKeys } from './keys';
import type { AcquireResult } from './stores/load-store';
import type { WaitEndReason } from './load-status.events';
import { NoticeKind } from './keys';
import type { WakeReason } from './waiter';

/**
 * Steps 4 and 5 of the load-once flow for one user in this process: take the lock (or learn the
 * user is loaded) in one round trip, after a flag read where `core.readsFlagFirst`; run the
 * loader with the lease kept alive; or wait for a notice, retrying the lock when it is released
 * or its lease runs out, until `waitTimeoutMs`.
 */
export async function runFlight<T>(
  host: FlightHost,
  userId: string,
  keys: UserKeys,
  loader: Loader<T>,
  settings: FlightSettings,
): Promise<LoadOutcome<T>> {
  const { core } = host;
  // A loaded user, the common case, is answered by the flag read at a fraction of the acquire
  // script's cost (bench/RESULTS.md); a miss goes on to the acquire, which checks the flag again
  // in the step that takes the lock. In a refresh window only the acquire can start the refresh.
  if (
    core.readsFlagFirst &&
    settings.refreshAheadMs === 0 &&
    (await core.store.flagTtl(keys)) !== undefined
  )
    return ALREADY_LOADED;
  const { events } = core;
  const started = performance.now();
  const deadline = started + settings.waitTimeoutMs;
  let waited = false;
  const waiter = core.waiters.watch(keys.tag);
  const endWait = (reason: WaitEndReason): number => {
    const waitedMs = elapsed(started);
    if (waited) events.emit({ type: 'wait-ended', userId, load: keys.load, reason, waitedMs });
    return waitedMs;
  };
  /** When the store first failed this waiting caller (it rides that out for `outageGraceMs`). */
  let unreachableSince: number | undefined;
  /** This waiter rode out an outage: the holder it waited for may have lost its lease in it. */
  let rodeOut = false;
  try {
    for (;;) {
      core.assertOpen(userId);
      waiter.arm();
      const token = host.nextToken();
      // The lease runs from this moment at the latest (the server grants it after it is sent).
      const sentAt = performance.now();
      // A caller that is already waiting rides out an outage (a failover) for outageGraceMs:
      // it keeps waiting instead of applying onStoreError, so a short one costs no extra load.
      const ridingOut =
        waited &&
        settings.outageGraceMs > 0 &&
        (unreachableSince === undefined ||
          performance.now() - unreachableSince < settings.outageGraceMs);
      let result: AcquireResult;
      try {
        // Only a caller that has not waited refreshes ahead: a waiter is done once it is loaded.
        result = await host.acquire(keys, token, {
          ttlMs: settings.lockTtlMs,
          checkFlag: true,
          rideOut: ridingOut,
          refreshAheadMs: waited ? 0 : settings.refreshAheadMs,
        });
        unreachableSince = undefined;
      } catch (error) {
        if (!(error instanceof StoreUnreachableError)) throw error;
        unreachableSince ??= performance.now();
        rodeOut = true;
        const remaining = deadline - performance.now();
        if (remaining <= 0) {
          // The wait budget is spent: no more riding out (an immediate retry would spin).
          endWait('timeout');
          waited = false;
          return await onTimeout(host, userId, keys, loader, settings, started);
        }
        const reason = await waiter.wait(Math.min(remaining, core.options.pollIntervalMs));
        if (reason === NoticeKind.Loaded)
          return { status: 'loaded-elsewhere', waitedMs: endWait('loaded-elsewhere') };
        continue;
      }
      if (result.state === 'loaded') {
        return waited
          ? { status: 'loaded-elsewhere', waitedMs: endWait('loaded-elsewhere') }
          : ALREADY_LOADED;
      }
      // A grant whose reply came back after its lease ran out (a failover held the reply up):
      // someone else may hold the lock by now, so it is never used; ask again.
      if (result.state === 'acquired' && performance.now() - sentAt >= settings.lockTtlMs) {
        core.logger.warn(
          `the lock of user ${JSON.stringify(userId)} was granted ${Math.round(performance.now() - sentAt)} ms ago, past its ${settings.lockTtlMs} ms lease; not used`,
        );
        continue;
      }
      if (result.state === 'acquired' && result.refreshOf !== undefined) {
        host.refreshInBackground(userId, keys, token, { ...result, sentAt }, loader, settings);
        return ALREADY_LOADED;
      }
      if (result.state === 'acquired') {
        let leaseFrom = sentAt;
        if (rodeOut) {
          const held = await holderCommitted(host, keys, token, waiter, settings, deadline);
          if (held === 'committed')
            return { status: 'loaded-elsewhere', waitedMs: endWait('loaded-elsewhere') };
          // The hold used the lease up and its renewal did not say the lock is still ours (an
          // outage again, or the lock state lost): loading on it could run beside another
          // holder, so ask again.
          if (held === 'lease-unsure') continue;
          if (held !== 'not-held') leaseFrom = held;
        }
        waiter.dispose();
        if (waited) {
          const waitedMs = endWait('woken');
          events.emit({
            type: 'takeover',
            userId,
            load: keys.load,
            fencingToken: result.fencingToken,
            waitedMs,
          });
        }
        waited = false;
        return await runLocked(
          host,
          userId,
          keys,
          token,
          { ...result, sentAt: leaseFrom },
          loader,
          settings,
        );
      }
      if (result.state === 'held') waiter.awaiting(result.holder);
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        endWait('timeout');
        waited = false;
        return await onTimeout(host, userId, keys, loader, settings, started);
      }
      if (!waited) events.emit({ type: 'wait-started', userId, load: keys.load });
      waited = true;
      // Wake on a notice; else re-check right after the holder's lease would run out, and poll
      // while notifications are down (or while too few replicas acknowledge our locks).
      let delay =
        result.state === 'held'
          ? Math.min(remaining, result.remainingMs + 1)
          : Math.min(remaining, core.options.pollIntervalMs);
      if (!core.store.notificationsLive) delay = Math.min(delay, core.options.pollIntervalMs);
      const reason = await waiter.wait(delay);
      if (reason === NoticeKind.Loaded)
        return { status: 'loaded-elsewhere', waitedMs: endWait('loaded-elsewhere') };
    }
  } catch (error) {
    endWait('aborted');
    throw error;
  } finally {
    waiter.dispose();
  }
}

/**
 * A waiter that won the lock right after riding out an outage: the holder it waited for may have
 * finished its load during the outage and lost its lease only because nobody could renew it; it
 * commits as soon as its client is back, at about the time ours is (clients back off their
 * reconnects by up to 500 ms, those the module makes). Hold the lock for up to two thirds of the
 * lease (still ours without renewal) for that commit: its 'loaded' notice, or the flag, read
 * again when our subscriber is back (the notice may have been sent while it was not) and at the
 * end. 'committed': it came, our lock is given back and nothing loads again. Else the lease to
 * load on, from when its renewal was sent ('lease-unsure': the renewal did not say the lock is
 * still ours, so the caller asks again; 'not-held': no wait budget was left to hold it, so the
 * grant's own lease stands). After a failover that costs no extra load; after a
 * holder that really died, at most two thirds of a lease.
 */
async function holderCommitted(
  host: FlightHost,
  keys: UserKeys,
  token: string,
  waiter: { wait(ms: number): Promise<WakeReason> },
  settings: FlightSettings,
  deadline: number,
): Promise<'committed' | 'lease-unsure' | 'not-held' | number> {
  const { store } = host.core;
  const end = Math.min(deadline, performance.now() + (settings.lockTtlMs * 2) / 3);
  if (end <= performance.now()) return 'not-held'; // no budget left: load on the grant's lease
  // Already there? Else mark the user waited on, so that commit publishes its notice.
  const flagNow = (watchMs?: number) => store.flagTtl(keys, watchMs).catch(() => undefined);
  let committed =
    (await flagNow(Math.max(1, Math.ceil(end - performance.now()) + 1))) !== undefined;
  for (let left = end - performance.now(); left > 0 && !committed; left = end - performance.now()) {
    const woken = await waiter.wait(left);
    // 'resync': our subscriber is back, and the commit's notice may have come while it was not.
    committed =
      woken === NoticeKind.Loaded || (woken === 'resync' && (await flagNow()) !== undefined);
  }
  if (!committed) committed = (await flagNow()) !== undefined;
  if (committed) {
    await store.release(keys, token).catch(() => false); // else its lease runs out
    return 'committed';
  }
  // Not committed: we load, on the lease the hold used up, renewed first. Only a renewal that
  // says the lock is still ours gives a lease (from when it was sent) to load on.
  const renewedFrom = performance.now();
  const ours = await store.extend(keys, token, settings.lockTtlMs).catch(() => false);
  return ours ? renewedFrom : 'lease-unsure';
}

/** What a caller does after waiting `waitTimeoutMs` in vain: throw, or run the loader unlocked. */
export async function onTimeout<T>(
  host: FlightHost,
  userId: string,
  keys: UserKeys,
  loader: Loader<T>,
  settings: FlightSettings,
  started: number,
): Promise<LoadOutcome<T>> {
  const waitedMs = elapsed(started);
  if (settings.onWaitTimeout === 'throw') throw new LoadWaitTimeoutError(userId, waitedMs);
  host.core.logger.warn(
    `waited ${waitedMs} ms for user ${JSON.stringify(userId)}; running the loader without the lock (onWaitTimeout: 'run')`,
  );
  const controller = new AbortController();
  host.track(undefined, controller);
  const loadStarted = performance.now();
  const { events } = host.core;
  events.emit({ type: 'load-started', userId, load: keys.load, fencingToken: undefined });
  let value: T;
  try {
    const ctx = loadContext(userId, undefined, controller.signal, settings.loadedTtlMs);
    value = await loader(ctx);
    host.core.assertOpen(userId);
    if (ctx.loadedTtlMs > 0) await host.core.store.setLoaded(keys, ctx.loadedTtlMs);
  } catch (error) {
    events.emit({
      type: 'load-failed',
      userId,
      load: keys.load,
      fencingToken: undefined,
      durationMs: elapsed(loadStarted),
      error,
    });
    throw error;
  } finally {
    host.untrack(undefined, controller);
  }
  events.emit({
    type: 'load-succeeded',
    userId,
    load: keys.load,
    fencingToken: undefined,
    durationMs: elapsed(loadStarted),
  });
  return {
    status: 'loaded',
    value,
    fencingToken: undefined,
    shared: false,
    durationMs: elapsed(loadStarted),
  };
}
