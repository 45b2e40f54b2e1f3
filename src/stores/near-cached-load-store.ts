import { NoticeKind, type UserKeys } from '../keys';
import type { AcquireResult, FinishResult, LoadStore, StoreListener } from './load-store';
import { NearCache } from './near-cache';

/**
 * Serves "is this user loaded?" from a {@link NearCache} while notifications flow, so a hot user
 * costs no round trip. Entries are dropped on every clear notice (from any process), flushed when
 * the notification channel reconnects, and bypassed while it is down.
 */
export class NearCachedLoadStore implements LoadStore {
  readonly cache: NearCache;

  constructor(
    private readonly inner: LoadStore,
    maxEntries: number,
    maxAgeMs: number,
  ) {
    this.cache = new NearCache(maxEntries, maxAgeMs);
  }

  get kind(): LoadStore['kind'] {
    return this.inner.kind;
  }

  get notificationsLive(): boolean {
    return this.inner.notificationsLive;
  }

  get notices(): LoadStore['notices'] {
    return this.inner.notices;
  }

  get rejection(): LoadStore['rejection'] {
    return this.inner.rejection;
  }

  /** True when the near-cache alone says the user is loaded (no round trip). */
  cachedLoaded(tag: string, refreshAheadMs = 0): boolean {
    return this.inner.notificationsLive && this.cache.fresh(tag, refreshAheadMs);
  }

  /** The cached remaining TTL, trusted only while notifications (and so invalidations) flow. */
  private hit(tag: string): number | undefined {
    return this.inner.notificationsLive ? this.cache.remaining(tag) : undefined;
  }

  init(listener: StoreListener): Promise<void> {
    return this.inner.init({
      notice: (notice) => {
        if (notice.kind === NoticeKind.Cleared) this.cache.invalidate(notice.tag);
        else if (notice.kind === NoticeKind.ClearedAll) this.cache.flush();
        listener.notice(notice);
      },
      resubscribed: () => {
        this.cache.flush();
        listener.resubscribed();
      },
    });
  }

  async flagTtl(user: UserKeys, watchMs?: number): Promise<number | undefined> {
    const cached = this.hit(user.tag);
    if (cached !== undefined) return cached;
    const at = this.cache.snapshot();
    const remaining = await this.inner.flagTtl(user, watchMs);
    if (remaining !== undefined) this.cache.fill(user.tag, remaining, at);
    return remaining;
  }

  async acquire(
    user: UserKeys,
    token: string,
    ttlMs: number,
    checkFlag: boolean,
    retryable?: boolean,
    refreshAheadMs = 0,
  ): Promise<AcquireResult> {
    if (checkFlag && this.cachedLoaded(user.tag, refreshAheadMs))
      return { state: 'loaded', remainingMs: this.cache.remaining(user.tag) ?? 0 };
    const at = this.cache.snapshot();
    const result = await this.inner.acquire(
      user,
      token,
      ttlMs,
      checkFlag,
      retryable,
      refreshAheadMs,
    );
    if (result.state === 'loaded')
      this.cache.fill(user.tag, result.remainingMs, at, result.refreshing === true);
    else if (result.state === 'acquired' && result.refreshOf !== undefined)
      // We refresh: the others here answer "loaded" meanwhile, without a round trip each.
      this.cache.fill(user.tag, result.refreshOf, at, true);
    return result;
  }

  async setLoaded(user: UserKeys, ttlMs: number): Promise<void> {
    const at = this.cache.snapshot();
    await this.inner.setLoaded(user, ttlMs);
    this.cache.fill(user.tag, ttlMs, at);
  }

  async clearLoaded(user: UserKeys): Promise<void> {
    this.cache.invalidate(user.tag);
    await this.inner.clearLoaded(user);
    this.cache.invalidate(user.tag);
  }

  async clearAllLoaded(): Promise<void> {
    this.cache.flush();
    await this.inner.clearAllLoaded();
    this.cache.flush();
  }

  async clearLoad(name: string): Promise<void> {
    this.cache.flush();
    await this.inner.clearLoad(name);
    this.cache.flush();
  }

  registerLoad(name: string): Promise<void> {
    return this.inner.registerLoad(name);
  }

  loadNames(): Promise<string[]> {
    return this.inner.loadNames();
  }

  async finish(
    user: UserKeys,
    token: string,
    loadedTtlMs: number,
    retryable?: boolean,
    generation?: string,
  ): Promise<FinishResult> {
    const at = this.cache.snapshot();
    const result = await this.inner.finish(user, token, loadedTtlMs, retryable, generation);
    if (result.committed) this.cache.fill(user.tag, loadedTtlMs, at);
    return result;
  }

  extend(user: UserKeys, token: string, ttlMs: number): Promise<boolean> {
    return this.inner.extend(user, token, ttlMs);
  }

  release(user: UserKeys, token: string): Promise<boolean> {
    return this.inner.release(user, token);
  }

  async finishLock(user: UserKeys, token: string): Promise<boolean> {
    return this.inner.finishLock(user, token);
  }

  publish(kind: NoticeKind, user: UserKeys): Promise<void> {
    return this.inner.publish(kind, user);
  }

  async reset(): Promise<void> {
    this.cache.flush();
    await this.inner.reset();
    this.cache.flush();
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  /** True while the store behind the cache serves from its in-process fallback. */
  get isDegraded(): boolean {
    return this.inner.isDegraded;
  }

  async close(): Promise<void> {
    this.cache.flush();
    await this.inner.close();
  }
}
