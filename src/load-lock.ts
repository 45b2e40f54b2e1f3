import type { LoadStatusCore } from './load-status.core';
import type { UserKeys } from './keys';
import { LoadStatusConfigError } from './errors';
import { checkDurationMs } from './validation';

/** A token-owned lock on one user. Only its owner can extend or release it. */
export interface LoadLock {
  /** The key it locks (a user id, or any key). */
  readonly userId: string;
  /** The load it locks the key in; undefined for the unnamed load. */
  readonly load?: string;
  /** Unique per acquisition; the store compares it before extend and release. */
  readonly token: string;
  /** Strictly greater than every earlier token of this user: hand it to storage to reject stale writers. */
  readonly fencingToken: number;
  /** Renews the lease (default: the TTL it was taken with). False: the lock is no longer ours. */
  extend(ttlMs?: number): Promise<boolean>;
  /** Releases the lock if still ours and wakes waiters to retry. False: it was no longer ours. */
  release(): Promise<boolean>;
}

/** What a {@link HeldLoadLock} is made of: the key it locks, and the grant the store gave. */
export interface HeldLoadLockInit {
  readonly userId: string;
  readonly keys: UserKeys;
  readonly token: string;
  readonly ttlMs: number;
  readonly grant: {
    readonly fencingToken: number;
    /** The lock state that granted it (see `AcquireResult`); reported in events. */
    readonly incarnation: string;
    /** `performance.now()` when the acquire was sent: the lease started then at the latest. */
    readonly sentAt: number;
  };
  /** Called once the lock is released or settled by a finish. */
  readonly onReleased: (lock: HeldLoadLock) => void;
}

/** The {@link LoadLock} handed out by `LoadLockService`. */
export class HeldLoadLock implements LoadLock {
  readonly userId: string;
  readonly token: string;
  readonly fencingToken: number;
  /** The lock state that granted it (see `AcquireResult`); reported in events. */
  readonly incarnation: string;
  readonly ttlMs: number;
  private readonly keys: UserKeys;
  private readonly onReleased: (lock: HeldLoadLock) => void;
  private released = false;
  /** `performance.now()` when the lease runs out unless extended again. */
  leaseEndsAt: number;

  constructor(
    private readonly core: LoadStatusCore,
    { userId, keys, token, ttlMs, grant, onReleased }: HeldLoadLockInit,
  ) {
    this.userId = userId;
    this.keys = keys;
    this.token = token;
    this.ttlMs = ttlMs;
    this.fencingToken = grant.fencingToken;
    this.incarnation = grant.incarnation;
    this.onReleased = onReleased;
    this.leaseEndsAt = grant.sentAt + ttlMs;
  }

  get load(): string | undefined {
    return this.keys.load;
  }

  /** Emits `lock-acquired` for this lock. */
  announce(): void {
    const { events } = this.core;
    if (!events.active) return;
    events.emit({
      type: 'lock-acquired',
      userId: this.userId,
      load: this.keys.load,
      fencingToken: this.fencingToken,
      incarnation: this.incarnation,
      leaseMs: this.ttlMs,
      leaseEndsInMs: Math.floor(this.leaseEndsAt - performance.now()),
    });
  }

  get isReleased(): boolean {
    return this.released;
  }

  async extend(ttlMs?: number): Promise<boolean> {
    const ttl = ttlMs === undefined ? this.ttlMs : checkDurationMs('ttlMs', ttlMs);
    if (this.released) return false;
    const sentAt = performance.now();
    const ours = await this.core.store.extend(this.keys, this.token, ttl);
    if (ours) {
      this.leaseEndsAt = sentAt + ttl;
      const { events } = this.core;
      if (events.active) {
        events.emit({
          type: 'lease-extended',
          userId: this.userId,
          load: this.keys.load,
          fencingToken: this.fencingToken,
          leaseEndsInMs: Math.floor(this.leaseEndsAt - performance.now()),
        });
      }
    }
    return ours;
  }

  async release(): Promise<boolean> {
    if (this.released) return false;
    this.released = true;
    this.onReleased(this);
    const owned = await this.core.store.release(this.keys, this.token);
    const { events } = this.core;
    if (events.active)
      events.emit({
        type: 'lock-released',
        userId: this.userId,
        load: this.keys.load,
        fencingToken: this.fencingToken,
        owned,
      });
    return owned;
  }

  /** Marks the lock as settled by `finish` (which released it atomically if still ours). */
  settled(): void {
    this.released = true;
    this.onReleased(this);
  }

  /** Guards public entry points against plain objects posing as locks. */
  static assert(value: unknown): HeldLoadLock {
    if (!(value instanceof HeldLoadLock)) {
      throw new LoadStatusConfigError('lock', 'expected a LoadLock returned by acquireLoadLock()');
    }
    return value;
  }
}
