import { NoticeKind, type UserKeys } from '../keys';
import { DelegatingLoadStore } from './delegating-load-store';
import type {
  AcquireRequest,
  AcquireResult,
  FinishRequest,
  FinishResult,
  LoadStore,
  StoreListener,
} from './load-store';
import { NearCache } from './near-cache';

/**
 * Serves "is this user loaded?" from a {@link NearCache} while notifications flow, so a hot user
 * costs no round trip. Entries are dropped on every clear notice (from any process), flushed when
 * the notification channel reconnects, and bypassed while it is down.
 */
export class NearCachedLoadStore extends DelegatingLoadStore {
  readonly cache: NearCache;

  constructor(inner: LoadStore, maxEntries: number, maxAgeMs: number) {
    super(inner);
    this.cache = new NearCache(maxEntries, maxAgeMs);
  }

  /** True when the near-cache alone says the user is loaded (no round trip). */
  cachedLoaded(tag: string, refreshAheadMs = 0): boolean {
    return this.inner.notificationsLive && this.cache.fresh(tag, refreshAheadMs);
  }

  /** The cached remaining TTL, trusted only while notifications (and so invalidations) flow. */
  private hit(tag: string): number | undefined {
    return this.inner.notificationsLive ? this.cache.remaining(tag) : undefined;
  }

  override init(listener: StoreListener): Promise<void> {
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

  override async flagTtl(user: UserKeys, watchMs?: number): Promise<number | undefined> {
    const cached = this.hit(user.tag);
    if (cached !== undefined) return cached;
    const at = this.cache.snapshot();
    const remaining = await this.inner.flagTtl(user, watchMs);
    if (remaining !== undefined) this.cache.fill(user.tag, remaining, at);
    return remaining;
  }

  override async acquire(
    user: UserKeys,
    token: string,
    request: AcquireRequest,
  ): Promise<AcquireResult> {
    if (request.checkFlag && this.cachedLoaded(user.tag, request.refreshAheadMs))
      return { state: 'loaded', remainingMs: this.cache.remaining(user.tag) ?? 0 };
    const at = this.cache.snapshot();
    const result = await this.inner.acquire(user, token, request);
    if (result.state === 'loaded')
      this.cache.fill(user.tag, result.remainingMs, at, result.refreshing === true);
    else if (result.state === 'acquired' && result.refreshOf !== undefined)
      // We refresh: the others here answer "loaded" meanwhile, without a round trip each.
      this.cache.fill(user.tag, result.refreshOf, at, true);
    return result;
  }

  override async setLoaded(user: UserKeys, ttlMs: number): Promise<void> {
    const at = this.cache.snapshot();
    await this.inner.setLoaded(user, ttlMs);
    this.cache.fill(user.tag, ttlMs, at);
  }

  override async clearLoaded(user: UserKeys): Promise<void> {
    this.cache.invalidate(user.tag);
    await this.inner.clearLoaded(user);
    this.cache.invalidate(user.tag);
  }

  override async clearAllLoaded(): Promise<void> {
    this.cache.flush();
    await this.inner.clearAllLoaded();
    this.cache.flush();
  }

  override async clearLoad(name: string): Promise<void> {
    this.cache.flush();
    await this.inner.clearLoad(name);
    this.cache.flush();
  }

  override async finish(
    user: UserKeys,
    token: string,
    request: FinishRequest,
  ): Promise<FinishResult> {
    const at = this.cache.snapshot();
    const result = await this.inner.finish(user, token, request);
    if (result.committed) this.cache.fill(user.tag, request.loadedTtlMs, at);
    return result;
  }

  override async reset(): Promise<void> {
    this.cache.flush();
    await this.inner.reset();
    this.cache.flush();
  }

  override async close(): Promise<void> {
    this.cache.flush();
    await this.inner.close();
  }
}
