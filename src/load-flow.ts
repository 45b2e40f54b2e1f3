import { StoreUnreachableError } from './errors';
import { ALREADY_LOADED, elapsed, type FlightCall, type Grant, type LoadOutcome } from './flight';
import type { Flights } from './flights';
import { NoticeKind } from './keys';
import { confirmAfterOutage } from './outage-handover';
import type { WaitEndReason } from './load-status.events';
import { refreshInBackground, runLocked } from './locked-load';
import type { AcquireResult } from './stores/load-store';
import { runUnlocked } from './unlocked-load';
import type { Waiter } from './waiter';

/**
 * Steps 4 and 5 of the load-once flow for one caller in this process (concurrent callers share
 * its flight). A loaded user is answered by a flag read where `core.readsFlagFirst`; else the
 * flight goes through these states:
 *
 * - **acquiring**: one round trip takes the lock, or learns the user is loaded (done), or who
 *   holds it (waiting). A waiter the store fails rides the outage out.
 * - **holding**: the lock is ours: run the loader with the lease kept alive, then finish
 *   (`locked-load.ts`).
 * - **refreshing**: the lock is ours in the flag's refresh window: the load runs in the
 *   background and the caller is answered already-loaded.
 * - **waiting**: someone holds the lock: wait for their 'loaded' notice (done), or for a release
 *   or the end of their lease (acquiring again).
 * - **riding out**: a waiter the store failed waits `outageGraceMs` for it to come back
 *   (acquiring again) instead of applying `onStoreError`.
 * - **confirming**: a lock won after riding out an outage: the holder it replaces may have
 *   committed in the outage (`outage-handover.ts`).
 * - **timed out**: the wait took `waitTimeoutMs`: `onWaitTimeout` (throw, or run unlocked).
 */
export async function runFlight<T>(flights: Flights, call: FlightCall<T>): Promise<LoadOutcome<T>> {
  const { core } = flights;
  const { keys, settings } = call;
  // A loaded user, the common case, is answered by the flag read at a fraction of the acquire
  // script's cost (bench/RESULTS.md); a miss goes on to the acquire, which checks the flag again
  // in the step that takes the lock. In a refresh window only the acquire can start the refresh.
  if (
    core.readsFlagFirst &&
    settings.refreshAheadMs === 0 &&
    (await core.store.flagTtl(keys)) !== undefined
  )
    return ALREADY_LOADED;
  return new Flight(flights, call).run();
}

/** What an acquire found when someone else holds the lock (or it was not replicated enough). */
type Taken = Extract<AcquireResult, { state: 'held' | 'unreplicated' }>;

/** Where a flight goes next. */
type Step<T> =
  /** `outageSince`: when the store first failed this waiter, if it is riding an outage out. */
  | { readonly to: 'acquiring'; readonly outageSince?: number }
  | { readonly to: 'holding'; readonly grant: Grant }
  | { readonly to: 'refreshing'; readonly grant: Grant }
  | { readonly to: 'waiting'; readonly found: Taken }
  | { readonly to: 'riding-out'; readonly outageSince: number }
  | { readonly to: 'confirming'; readonly grant: Grant }
  | { readonly to: 'timed-out' }
  | { readonly to: 'done'; readonly outcome: LoadOutcome<T> };

const ACQUIRING = Object.freeze({ to: 'acquiring' as const });
const TIMED_OUT = Object.freeze({ to: 'timed-out' as const });
const DONE_ALREADY_LOADED = Object.freeze({ to: 'done' as const, outcome: ALREADY_LOADED });

/** One caller's way through the states above; see {@link runFlight}. */
class Flight<T> {
  private readonly started = performance.now();
  private readonly deadline: number;
  private readonly waiter: Waiter;
  /**
   * Between `wait-started` and `wait-ended`. A caller that has waited is done once the user is
   * loaded (it never refreshes ahead), and only it rides out an outage.
   */
  private waiting = false;
  /** An outage was ridden out: the holder waited for may have lost its lease only in it. */
  private rodeOut = false;

  constructor(
    private readonly flights: Flights,
    private readonly call: FlightCall<T>,
  ) {
    this.deadline = this.started + call.settings.waitTimeoutMs;
    this.waiter = flights.core.waiters.watch(call.keys.tag);
  }

  async run(): Promise<LoadOutcome<T>> {
    let step: Step<T> = ACQUIRING;
    try {
      for (;;) {
        switch (step.to) {
          case 'acquiring':
            step = await this.acquire(step.outageSince);
            break;
          case 'waiting':
            step = await this.wait(step.found);
            break;
          case 'riding-out':
            step = await this.rideOut(step.outageSince);
            break;
          case 'confirming':
            step = await this.confirm(step.grant);
            break;
          case 'holding':
            return await this.hold(step.grant);
          case 'refreshing':
            refreshInBackground(this.flights, this.call, step.grant);
            return ALREADY_LOADED;
          case 'timed-out':
            this.endWait('timeout');
            return await runUnlocked(this.flights, this.call, this.started);
          case 'done':
            return step.outcome;
        }
      }
    } catch (error) {
      this.endWait('aborted');
      throw error;
    } finally {
      this.waiter.dispose();
    }
  }

  private async acquire(outageSince: number | undefined): Promise<Step<T>> {
    const { core } = this.flights;
    const { userId, keys, settings } = this.call;
    core.assertOpen(userId);
    this.waiter.arm();
    const token = this.flights.nextToken();
    // The lease runs from this moment at the latest (the server grants it after it is sent).
    const sentAt = performance.now();
    let result: AcquireResult;
    try {
      result = await this.flights.acquire(keys, token, {
        ttlMs: settings.lockTtlMs,
        checkFlag: true,
        rideOut: this.mayRideOut(outageSince),
        // Only a caller that has not waited refreshes ahead: a waiter is done once it is loaded.
        refreshAheadMs: this.waiting ? 0 : settings.refreshAheadMs,
      });
    } catch (error) {
      // Thrown only to a caller riding out (`mayRideOut`); the others get `onStoreError`.
      if (!(error instanceof StoreUnreachableError)) throw error;
      this.rodeOut = true;
      return { to: 'riding-out', outageSince: outageSince ?? performance.now() };
    }
    switch (result.state) {
      case 'loaded':
        return this.waiting ? this.loadedElsewhere() : DONE_ALREADY_LOADED;
      case 'acquired': {
        // A grant whose reply came back after its lease ran out (a failover held the reply up):
        // someone else may hold the lock by now, so it is never used; ask again.
        const ageMs = performance.now() - sentAt;
        if (ageMs >= settings.lockTtlMs) {
          core.logger.warn(
            `the lock of user ${JSON.stringify(userId)} was granted ${Math.round(ageMs)} ms ago, past its ${settings.lockTtlMs} ms lease; not used`,
          );
          return ACQUIRING;
        }
        const grant: Grant = { ...result, token, sentAt };
        if (result.refreshOf !== undefined) return { to: 'refreshing', grant };
        return { to: this.rodeOut ? 'confirming' : 'holding', grant };
      }
      default:
        return { to: 'waiting', found: result };
    }
  }

  /**
   * A caller that is already waiting rides out an outage (a failover) for `outageGraceMs`: it
   * keeps waiting instead of applying `onStoreError`, so a short one costs no extra load.
   */
  private mayRideOut(outageSince: number | undefined): boolean {
    const graceMs = this.call.settings.outageGraceMs;
    return (
      this.waiting &&
      graceMs > 0 &&
      (outageSince === undefined || performance.now() - outageSince < graceMs)
    );
  }

  private async wait(found: Taken): Promise<Step<T>> {
    const { core } = this.flights;
    if (found.state === 'held') this.waiter.awaiting(found.holder);
    const remaining = this.deadline - performance.now();
    if (remaining <= 0) return TIMED_OUT;
    if (!this.waiting) {
      const { userId, keys } = this.call;
      core.events.emit({ type: 'wait-started', userId, load: keys.load });
      this.waiting = true;
    }
    // Wake on a notice; else re-check right after the holder's lease would run out, and poll
    // while notifications are down (or while too few replicas acknowledge our locks).
    const { pollIntervalMs } = core.options;
    let delay =
      found.state === 'held'
        ? Math.min(remaining, found.remainingMs + 1)
        : Math.min(remaining, pollIntervalMs);
    if (!core.store.notificationsLive) delay = Math.min(delay, pollIntervalMs);
    return (await this.waiter.wait(delay)) === NoticeKind.Loaded
      ? this.loadedElsewhere()
      : ACQUIRING;
  }

  private async rideOut(outageSince: number): Promise<Step<T>> {
    // The wait budget spent: no more riding out (an immediate retry would spin).
    const remaining = this.deadline - performance.now();
    if (remaining <= 0) return TIMED_OUT;
    const woken = await this.waiter.wait(
      Math.min(remaining, this.flights.core.options.pollIntervalMs),
    );
    return woken === NoticeKind.Loaded ? this.loadedElsewhere() : { to: 'acquiring', outageSince };
  }

  private async confirm(grant: Grant): Promise<Step<T>> {
    const held = await confirmAfterOutage(this.flights.core.store, this.call, grant, {
      waiter: this.waiter,
      deadline: this.deadline,
    });
    if (held === 'committed') return this.loadedElsewhere();
    // The hold used the lease up and its renewal did not say the lock is still ours (an outage
    // again, or the lock state lost): loading on it could run beside another holder; ask again.
    if (held === 'lease-unsure') return ACQUIRING;
    return { to: 'holding', grant: held === 'not-held' ? grant : { ...grant, sentAt: held } };
  }

  private hold(grant: Grant): Promise<LoadOutcome<T>> {
    this.waiter.dispose();
    if (this.waiting) {
      const waitedMs = this.endWait('woken');
      this.flights.core.events.emit({
        type: 'takeover',
        userId: this.call.userId,
        load: this.call.keys.load,
        fencingToken: grant.fencingToken,
        waitedMs,
      });
    }
    return runLocked(this.flights, this.call, grant);
  }

  private loadedElsewhere(): Step<T> {
    const waitedMs = this.endWait('loaded-elsewhere');
    return { to: 'done', outcome: { status: 'loaded-elsewhere', waitedMs } };
  }

  /** Emits `wait-ended` if this caller is waiting (once); the ms since the flight started. */
  private endWait(reason: WaitEndReason): number {
    const waitedMs = elapsed(this.started);
    if (this.waiting) {
      this.waiting = false;
      this.flights.core.events.emit({
        type: 'wait-ended',
        userId: this.call.userId,
        load: this.call.keys.load,
        reason,
        waitedMs,
      });
    }
    return waitedMs;
  }
}
