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
  /** The holders named by the 'loaded' notices kept in `pending`. */
  private readonly loadedBy: Array<string | undefined> = [];
  /** The lock token of the holder this caller last saw: see {@link awaiting}. */
  private holder: string | undefined;
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
    this.loadedBy.length = 0;
  }

  /**
   * The caller saw `holder` holding the lock: from now on only that holder's 'loaded' notice ends
   * the wait. Any other 'loaded' notice — one published before the caller's read and delivered
   * after it (a process that stalled with it unread), or one with no holder — may speak of a
   * flag that is gone by now, so it only asks for a re-check, like a release. Undefined (the
   * store does not report holders): every 'loaded' notice ends the wait.
   */
  awaiting(holder: string | undefined): void {
    this.holder = holder;
  }

  notify(reason: WakeReason, holder?: string): void {
    if (this.settle) {
      this.settle(reason === NoticeKind.Loaded ? this.judge([holder]) : reason);
      return;
    }
    // Keep the most decisive notice: 'loaded' ends a wait, anything else only asks for a re-check.
    // Which holders said 'loaded' is judged at the wait: the holder is learnt after the read.
    if (reason === NoticeKind.Loaded && this.loadedBy.length < 8) this.loadedBy.push(holder);
    if (this.pending !== NoticeKind.Loaded) this.pending = reason;
  }

  private judge(loadedBy: ReadonlyArray<string | undefined>): WakeReason {
    return this.holder === undefined || loadedBy.includes(this.holder)
      ? NoticeKind.Loaded
      : NoticeKind.Released;
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
      const reason = this.pending === NoticeKind.Loaded ? this.judge(this.loadedBy) : this.pending;
      this.arm();
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

  notify(tag: string, reason: WakeReason, holder?: string): void {
    const set = this.byTag.get(tag);
    if (set) for (const waiter of set) waiter.notify(reason, holder);
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
