import type { NoticeKind, UserKeys } from '../keys';
import type {
  AcquireRequest,
  AcquireResult,
  FinishRequest,
  FinishResult,
  LoadStore,
  NoticePath,
  StoreFailure,
  StoreListener,
} from './load-store';

/**
 * A store that wraps another: every {@link LoadStore} member is forwarded to `inner` as it is, so
 * a wrapper overrides only what it changes. Requests are passed on whole (a `rideOut` it does not
 * read still reaches the store that does). `bootRejection` is not: only the guard asks it, of
 * the remote store it guards.
 *
 * Not for a store that must see every call (the store-error policy, `GuardedLoadStore`): a member
 * added to the port later would reach `inner` unguarded.
 */
export abstract class DelegatingLoadStore implements LoadStore {
  constructor(protected readonly inner: LoadStore) {}

  get kind(): LoadStore['kind'] {
    return this.inner.kind;
  }

  get isDegraded(): boolean {
    return this.inner.isDegraded;
  }

  get notificationsLive(): boolean {
    return this.inner.notificationsLive;
  }

  get rejection(): StoreFailure | undefined {
    return this.inner.rejection;
  }

  get notices(): NoticePath {
    return this.inner.notices;
  }

  init(listener: StoreListener): Promise<void> {
    return this.inner.init(listener);
  }

  flagTtl(user: UserKeys, watchMs?: number): Promise<number | undefined> {
    return this.inner.flagTtl(user, watchMs);
  }

  setLoaded(user: UserKeys, ttlMs: number): Promise<void> {
    return this.inner.setLoaded(user, ttlMs);
  }

  clearLoaded(user: UserKeys): Promise<void> {
    return this.inner.clearLoaded(user);
  }

  acquire(user: UserKeys, token: string, request: AcquireRequest): Promise<AcquireResult> {
    return this.inner.acquire(user, token, request);
  }

  extend(user: UserKeys, token: string, ttlMs: number): Promise<boolean> {
    return this.inner.extend(user, token, ttlMs);
  }

  release(user: UserKeys, token: string): Promise<boolean> {
    return this.inner.release(user, token);
  }

  finish(user: UserKeys, token: string, request: FinishRequest): Promise<FinishResult> {
    return this.inner.finish(user, token, request);
  }

  clearAllLoaded(): Promise<void> {
    return this.inner.clearAllLoaded();
  }

  clearLoad(name: string): Promise<void> {
    return this.inner.clearLoad(name);
  }

  registerLoad(name: string): Promise<void> {
    return this.inner.registerLoad(name);
  }

  loadNames(): Promise<string[]> {
    return this.inner.loadNames();
  }

  finishLock(user: UserKeys, token: string): Promise<boolean> {
    return this.inner.finishLock(user, token);
  }

  publish(kind: NoticeKind, user: UserKeys): Promise<void> {
    return this.inner.publish(kind, user);
  }

  reset(): Promise<void> {
    return this.inner.reset();
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
