import { NoticeKind } from './keys';

/** Why a wait ended: a notice for the user, the channel came back ('resync'), or the timer. */
export type WakeReason = NoticeKind | 'resync' | 'timer';

/**
 * One caller's interest in one user's notices. It is registered before the caller reads the
 * store, and a notice that arrives before `wait()` is kept, so no notice falls in the gap
 * between a read and the wait that follows it.
 */
export class Waiter {
  private pending: WakeReason | undefined;
  private settle: ((reason: WakeReason) => void) | undefined;
  private failure: Error | undefined;
  private failWaiting: ((error: unknown) => void) | undefined;

  constructor(
    readonly tag: string,
    private readonly onDispose: (waiter: Waiter) => void,
  ) {}

  /** Forgets notices seen so far: call right before each read of the store. */
  arm(): void {
    this.pending = undefined;
  }

  notify(reason: WakeReason): void {
    if (this.settle) {
      this.settle(reason);
      return;
    }
    // Keep the most decisive notice: 'loaded' ends a wait, anything else only asks for a re-check.
    if (this.pending !== NoticeKind.Loaded) this.pending = reason;
  }

  /** Ends this and every later wait with `error` (shutdown). */
  fail(error: Error): void {
    this.failure = error;
    this.failWaiting?.(error);
  }

  /** Resolves with the first notice, or 'timer' after `ms`; rejects on abort or `fail`. */
  wait(ms: number, signal?: AbortSignal): Promise<WakeReason> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.pending !== undefined) {
      const reason = this.pending;
      this.pending = undefined;
      return Promise.resolve(reason);
    }
    return new Promise<WakeReason>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.settle = undefined;
        this.failWaiting = undefined;
      };
      const onAbort = (): void => {
        finish();
        reject(signal?.reason);
      };
      const timer = setTimeout(
        () => {
          finish();
          resolve('timer');
        },
        Math.max(0, ms),
      );
      this.settle = (reason) => {
        finish();
        resolve(reason);
      };
      this.failWaiting = (error) => {
        finish();
        reject(error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  dispose(): void {
    this.onDispose(this);
  }
}

/** Waiters by encoded user id; empty sets are removed so memory follows live waits only. */
export class WaiterRegistry {
  private readonly byTag = new Map<string, Set<Waiter>>();

  watch(tag: string): Waiter {
    const waiter = new Waiter(tag, (w) => this.remove(w));
    let set = this.byTag.get(tag);
    if (!set) {
      set = new Set();
      this.byTag.set(tag, set);
    }
    set.add(waiter);
    return waiter;
  }

  notify(tag: string, reason: WakeReason): void {
    const set = this.byTag.get(tag);
    if (set) for (const waiter of set) waiter.notify(reason);
  }

  notifyAll(reason: WakeReason): void {
    for (const set of this.byTag.values()) for (const waiter of set) waiter.notify(reason);
  }

  failAll(error: (tag: string) => Error): void {
    for (const [tag, set] of this.byTag) for (const waiter of set) waiter.fail(error(tag));
  }

  /** Users with at least one live waiter. */
  get size(): number {
    return this.byTag.size;
  }

  private remove(waiter: Waiter): void {
    const set = this.byTag.get(waiter.tag);
    if (!set) return;
    set.delete(waiter);
    if (set.size === 0) this.byTag.delete(waiter.tag);
  }
}
