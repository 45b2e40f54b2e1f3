import { randomUUID } from 'node:crypto';
import { ALL_USERS_TAG, loadTagPrefix, NoticeKind, type UserKeys } from '../keys';
import type {
  AcquireRequest,
  AcquireResult,
  FinishRequest,
  FinishResult,
  LoadStore,
  StoreListener,
} from './load-store';

interface Lock {
  token: string;
  expiresAt: number;
}

/** Expired entries are swept after this many writes, so memory follows live users only. */
const SWEEP_EVERY_WRITES = 1024;

/**
 * In-process store: real locks, TTLs and notifications for one process. Expiry is lazy (checked
 * on read, swept every {@link SWEEP_EVERY_WRITES} writes), so it owns no timers.
 */
export class MemoryLoadStore implements LoadStore {
  readonly kind = 'memory' as const;
  readonly notificationsLive = true;
  readonly isDegraded = false;
  readonly rejection = undefined;
  readonly notices = { mode: 'in-process' } as const;
  private readonly flags = new Map<string, number>();
  private readonly locks = new Map<string, Lock>();
  /** One counter for all users: strictly increasing per user as well, never behind the clock. */
  private fence = 0;
  /** Moves on at each `clearAllLoaded`: a load begun before it sets no flag. */
  private generation = 1;
  private writes = 0;
  private readonly loads = new Set<string>();
  private listener: StoreListener | undefined;

  constructor(
    /** Reported as the `incarnation` of every lease this store grants. */
    private readonly incarnation = `memory:${randomUUID()}`,
    private readonly now: () => number = () => performance.now(),
  ) {}

  init(listener: StoreListener): Promise<void> {
    this.listener = listener;
    return Promise.resolve();
  }

  flagTtl(user: UserKeys): Promise<number | undefined> {
    return Promise.resolve(this.remaining(user.tag));
  }

  setLoaded(user: UserKeys, ttlMs: number): Promise<void> {
    this.flags.set(user.tag, this.now() + ttlMs);
    this.wrote();
    this.notify(NoticeKind.Loaded, user.tag);
    return Promise.resolve();
  }

  clearLoaded(user: UserKeys): Promise<void> {
    this.flags.delete(user.tag);
    this.notify(NoticeKind.Cleared, user.tag);
    return Promise.resolve();
  }

  acquire(
    user: UserKeys,
    token: string,
    { ttlMs, checkFlag, refreshAheadMs = 0 }: AcquireRequest,
  ): Promise<AcquireResult> {
    const remainingMs = checkFlag ? this.remaining(user.tag) : undefined;
    const refresh = remainingMs !== undefined && remainingMs < refreshAheadMs;
    if (remainingMs !== undefined && !refresh)
      return Promise.resolve({ state: 'loaded', remainingMs });
    const held = this.liveLock(user.tag);
    if (held && refresh)
      return Promise.resolve({ state: 'loaded', remainingMs: remainingMs, refreshing: true });
    if (held)
      return Promise.resolve({
        state: 'held',
        remainingMs: Math.max(0, Math.ceil(held.expiresAt - this.now())),
        holder: held.token,
      });
    this.locks.set(user.tag, { token, expiresAt: this.now() + ttlMs });
    this.wrote();
    // The process clock in µs, or one more than the last token: comparable with the Redis store's
    // tokens (server clock in µs) when this store is the fail-open fallback.
    this.fence = Math.max(this.fence + 1, Date.now() * 1000);
    return Promise.resolve({
      state: 'acquired',
      fencingToken: this.fence,
      incarnation: this.incarnation,
      generation: String(this.generation),
      ...(refresh ? { refreshOf: remainingMs } : {}),
    });
  }

  extend(user: UserKeys, token: string, ttlMs: number): Promise<boolean> {
    const held = this.liveLock(user.tag);
    if (held?.token !== token) return Promise.resolve(false);
    held.expiresAt = this.now() + ttlMs;
    return Promise.resolve(true);
  }

  release(user: UserKeys, token: string): Promise<boolean> {
    const owned = this.takeLock(user.tag, token);
    if (owned) this.notify(NoticeKind.Released, user.tag);
    return Promise.resolve(owned);
  }

  finish(
    user: UserKeys,
    token: string,
    { loadedTtlMs, generation }: FinishRequest,
  ): Promise<FinishResult> {
    const fresh = generation === undefined || generation === String(this.generation);
    const owned = this.takeLock(user.tag, token);
    // A holder that lost the lock leaves a later load's flag alone (see the Redis store's finish).
    const later = !owned && this.remaining(user.tag) !== undefined;
    if (fresh && !later && loadedTtlMs > 0) this.flags.set(user.tag, this.now() + loadedTtlMs);
    else if (fresh && !later) this.flags.delete(user.tag);
    this.wrote();
    this.notify(fresh ? NoticeKind.Loaded : NoticeKind.Released, user.tag, token);
    return Promise.resolve({ owned, committed: fresh });
  }

  clearAllLoaded(): Promise<void> {
    this.generation++;
    this.flags.clear();
    this.notify(NoticeKind.ClearedAll, ALL_USERS_TAG);
    return Promise.resolve();
  }

  clearLoad(name: string): Promise<void> {
    const prefix = loadTagPrefix(name);
    for (const tag of this.flags.keys()) if (tag.startsWith(prefix)) this.flags.delete(tag);
    this.notify(NoticeKind.ClearedAll, ALL_USERS_TAG);
    return Promise.resolve();
  }

  registerLoad(name: string): Promise<void> {
    this.loads.add(name);
    return Promise.resolve();
  }

  loadNames(): Promise<string[]> {
    return Promise.resolve([...this.loads]);
  }

  finishLock(user: UserKeys, token: string): Promise<boolean> {
    const owned = this.takeLock(user.tag, token);
    this.notify(NoticeKind.Loaded, user.tag, token);
    return Promise.resolve(owned);
  }

  publish(kind: NoticeKind, user: UserKeys): Promise<void> {
    this.notify(kind, user.tag);
    return Promise.resolve();
  }

  reset(): Promise<void> {
    this.flags.clear();
    this.locks.clear();
    this.loads.clear();
    return Promise.resolve();
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.listener = undefined;
    this.flags.clear();
    this.locks.clear();
    return Promise.resolve();
  }

  private takeLock(tag: string, token: string): boolean {
    const held = this.liveLock(tag);
    if (held?.token !== token) return false;
    this.locks.delete(tag);
    return true;
  }

  private remaining(tag: string): number | undefined {
    const expiresAt = this.flags.get(tag);
    if (expiresAt === undefined) return undefined;
    const left = expiresAt - this.now();
    if (left > 0) return Math.floor(left);
    this.flags.delete(tag);
    return undefined;
  }

  private liveLock(tag: string): Lock | undefined {
    const lock = this.locks.get(tag);
    if (lock === undefined) return undefined;
    if (lock.expiresAt > this.now()) return lock;
    this.locks.delete(tag);
    return undefined;
  }

  private notify(kind: NoticeKind, tag: string, holder?: string): void {
    const listener = this.listener;
    if (listener === undefined) return;
    const notice = holder === undefined ? { kind, tag } : { kind, tag, holder };
    // Delivered on a later tick, like a pub/sub message, so callers never re-enter themselves.
    queueMicrotask(() => listener.notice(notice));
  }

  private wrote(): void {
    if (++this.writes % SWEEP_EVERY_WRITES !== 0) return;
    const now = this.now();
    for (const [tag, expiresAt] of this.flags) if (expiresAt <= now) this.flags.delete(tag);
    for (const [tag, lock] of this.locks) if (lock.expiresAt <= now) this.locks.delete(tag);
  }
}
