import { errorText, LoadStatusShutdownError } from './errors';
import type { LoadOutcome } from './flight';
import { decodeUserTag, type UserKeys } from './keys';
import type { HeldLoadLock } from './load-lock';
import type { LoadStatusCore } from './load-status.core';
import type { AcquireRequest, AcquireResult } from './stores/load-store';

/**
 * What one registration has under way in this process: the flights its callers share, the
 * locks it holds, the loaders it runs and the acquires still in flight. The flow records here
 * what it starts, so that shutdown finds all of it: no lock is won after shutdown looked, and
 * every loader's signal is aborted.
 */
export class Flights {
  /** One flight per user: concurrent callers in this process share it (step 3 of the flow). */
  private readonly flights = new Map<string, Promise<LoadOutcome<unknown>>>();
  /** Held locks, with the signal of the loader running under each (none: `acquireLoadLock`). */
  private readonly held = new Map<HeldLoadLock, AbortController | undefined>();
  /** Loaders running without the lock (`onWaitTimeout: 'run'`). */
  private readonly unlocked = new Set<AbortController>();
  private readonly acquiring = new Set<Promise<unknown>>();
  private sequence = 0;
  private acquiresSinceSweep = 0;

  constructor(readonly core: LoadStatusCore) {}

  /** The flight under way for the user `tag`, if any. */
  running<T>(tag: string): Promise<LoadOutcome<T>> | undefined {
    return this.flights.get(tag) as Promise<LoadOutcome<T>> | undefined;
  }

  /** Starts the user's flight; it is shared until it settles. */
  start<T>(tag: string, flight: Promise<LoadOutcome<T>>): Promise<LoadOutcome<T>> {
    const shared = flight.finally(() => this.flights.delete(tag));
    this.flights.set(tag, shared);
    return shared;
  }

  /** How many of each thing are tracked now: all 0 once nothing is under way. */
  get counts(): {
    readonly flights: number;
    readonly held: number;
    readonly unlocked: number;
    readonly acquiring: number;
  } {
    return {
      flights: this.flights.size,
      held: this.held.size,
      unlocked: this.unlocked.size,
      acquiring: this.acquiring.size,
    };
  }

  /** A lock token unique to this registration in this process. */
  nextToken(): string {
    return `${this.core.instanceId}:${++this.sequence}`;
  }

  /**
   * The store's acquire, tracked until it settles: a lock won after shutdown began is given back
   * at once (and the call fails with `LoadStatusShutdownError`).
   */
  acquire(keys: UserKeys, token: string, request: AcquireRequest): Promise<AcquireResult> {
    const { core } = this;
    const attempt = (async (): Promise<AcquireResult> => {
      const result = await core.store.acquire(keys, token, request);
      if (result.state === 'unreplicated')
        core.events.emit({
          type: 'lock-unreplicated',
          userId: decodeUserTag(keys.tag),
          load: keys.load,
          acks: result.acks,
          replicas: result.replicas,
        });
      if (result.state !== 'acquired' || !core.isClosing) return result;
      try {
        await core.store.release(keys, token);
      } catch (error) {
        core.logger.warn(`could not give back a lock won during shutdown: ${errorText(error)}`);
      }
      throw new LoadStatusShutdownError(decodeUserTag(keys.tag));
    })();
    this.acquiring.add(attempt);
    const forget = (): void => void this.acquiring.delete(attempt);
    attempt.then(forget, forget);
    return attempt;
  }

  /** A lock now held; `loader`: the signal of the loader running under it. */
  holding(lock: HeldLoadLock, loader?: AbortController): void {
    if (loader === undefined) this.forgetExpiredLocks();
    this.held.set(lock, loader);
  }

  /** The lock was released, or settled by a finish. */
  released(lock: HeldLoadLock): void {
    this.held.delete(lock);
  }

  /** Runs `load` as a loader without the lock, aborted by shutdown like the others. */
  async unlockedLoad<T>(load: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    this.unlocked.add(controller);
    try {
      return await load(controller.signal);
    } finally {
      this.unlocked.delete(controller);
    }
  }

  /**
   * Shutdown (`core.beginShutdown()` has run): waits for the acquires in flight (a lock they win
   * is given back), aborts every loader and releases every lock still held.
   */
  async shutdown(): Promise<void> {
    const { core } = this;
    await Promise.allSettled([...this.acquiring]);
    for (const controller of this.unlocked) controller.abort(new LoadStatusShutdownError());
    const locks = [...this.held];
    for (const [lock, controller] of locks)
      controller?.abort(new LoadStatusShutdownError(lock.userId));
    await Promise.all(
      locks.map(async ([lock]) => {
        try {
          await lock.release();
        } catch (error) {
          core.logger.warn(
            `could not release the lock of user ${JSON.stringify(lock.userId)} at shutdown: ${errorText(error)}`,
          );
        }
      }),
    );
  }

  /** Locks from `acquireLoadLock` whose lease ran out without a release need no tracking. */
  private forgetExpiredLocks(): void {
    // A sweep per acquire would cost every lock cycle a walk over the held locks.
    if (++this.acquiresSinceSweep < SWEEP_HELD_EVERY) return;
    this.acquiresSinceSweep = 0;
    const now = performance.now();
    for (const [lock, controller] of this.held) {
      if (controller === undefined && lock.leaseEndsAt <= now) this.held.delete(lock);
    }
  }
}

/** Locks from `acquireLoadLock` whose lease ran out are forgotten every this many acquires. */
const SWEEP_HELD_EVERY = 64;
