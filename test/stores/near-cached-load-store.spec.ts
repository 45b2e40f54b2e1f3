/**
 * The near-cache's store wrapper as a unit: `NearCachedLoadStore` over a memory store the test
 * can hold mid-call and whose notification channel it switches off. `near-cache.spec.ts` shows
 * the near-cache end to end on Redis (no round trip for a hot user, dropped in every process on a
 * clear, never outliving the flag, bypassed and flushed with the channel); these are the
 * wrapper's own rules, found by mutation testing: which answers it keeps and for how long, which
 * it never serves, and that a clear or a reconnect overtaking a call in flight is never undone by
 * that call's reply.
 */
import { ALL_USERS_TAG, KeyBuilder, NoticeKind, type UserKeys } from '../../src/keys';
import type {
  AcquireResult,
  FinishResult,
  LoadStore,
  StoreListener,
  StoreNotice,
} from '../../src/stores/load-store';
import { MemoryLoadStore } from '../../src/stores/memory-load-store';
import { NearCachedLoadStore } from '../../src/stores/near-cached-load-store';

type Method = Exclude<keyof LoadStore, 'kind' | 'isDegraded' | 'notificationsLive' | 'notices'>;

/** A memory store that records its calls, can hold the next call of a method, and can lose its channel. */
class InnerStore implements LoadStore {
  readonly kind = 'redis' as const;
  readonly isDegraded = false;
  readonly notices = { mode: 'classic' } as const;
  readonly rejection = undefined;
  notificationsLive = true;
  readonly memory = new MemoryLoadStore('inner');
  readonly calls: Method[] = [];
  listener: StoreListener | undefined;
  /** The user and watch of every flag read. */
  readonly watches: Array<[string, number | undefined]> = [];
  private readonly held = new Map<Method, Promise<void>>();

  /** Holds the next call of `method` until the returned function is called. */
  hold(method: Method): () => void {
    let release!: () => void;
    this.held.set(method, new Promise<void>((resolve) => (release = resolve)));
    return release;
  }

  /** The calls of `method` so far. */
  count(method: Method): number {
    return this.calls.filter((m) => m === method).length;
  }

  init(listener: StoreListener): Promise<void> {
    this.listener = listener;
    return this.through('init', () => this.memory.init(listener));
  }
  flagTtl(user: UserKeys, watchMs?: number): Promise<number | undefined> {
    this.watches.push([user.tag, watchMs]);
    return this.through('flagTtl', () => this.memory.flagTtl(user));
  }
  setLoaded(user: UserKeys, ttlMs: number): Promise<void> {
    return this.through('setLoaded', () => this.memory.setLoaded(user, ttlMs));
  }
  clearLoaded(user: UserKeys): Promise<void> {
    return this.through('clearLoaded', () => this.memory.clearLoaded(user));
  }
  clearAllLoaded(): Promise<void> {
    return this.through('clearAllLoaded', () => this.memory.clearAllLoaded());
  }
  clearLoad(name: string): Promise<void> {
    return this.through('clearLoad', () => this.memory.clearLoad(name));
  }
  registerLoad(name: string): Promise<void> {
    return this.through('registerLoad', () => this.memory.registerLoad(name));
  }
  loadNames(): Promise<string[]> {
    return this.through('loadNames', () => this.memory.loadNames());
  }
  acquire(...args: Parameters<LoadStore['acquire']>): Promise<AcquireResult> {
    return this.through('acquire', () => this.memory.acquire(...args));
  }
  extend(user: UserKeys, token: string, ttlMs: number): Promise<boolean> {
    return this.through('extend', () => this.memory.extend(user, token, ttlMs));
  }
  release(user: UserKeys, token: string): Promise<boolean> {
    return this.through('release', () => this.memory.release(user, token));
  }
  finish(...args: Parameters<LoadStore['finish']>): Promise<FinishResult> {
    return this.through('finish', () => this.memory.finish(...args));
  }
  finishLock(user: UserKeys, token: string): Promise<boolean> {
    return this.through('finishLock', () => this.memory.finishLock(user, token));
  }
  publish(kind: NoticeKind, user: UserKeys): Promise<void> {
    return this.through('publish', () => this.memory.publish(kind, user));
  }
  reset(): Promise<void> {
    return this.through('reset', () => this.memory.reset());
  }
  ping(): Promise<void> {
    return this.through('ping', () => this.memory.ping());
  }
  close(): Promise<void> {
    return this.through('close', () => this.memory.close());
  }

  private async through<T>(method: Method, run: () => Promise<T>): Promise<T> {
    this.calls.push(method);
    const gate = this.held.get(method);
    this.held.delete(method);
    // The call reads the store's state when it is let go, as a reply that comes late does.
    if (gate !== undefined) await gate;
    return run();
  }
}

describe('NearCachedLoadStore', () => {
  const keys = new KeyBuilder('near-cached-unit');
  const user = (n = 1): UserKeys => keys.forUser(`user-${n}`);
  let inner: InnerStore;
  let store: NearCachedLoadStore;
  let heard: Array<StoreNotice | 'resubscribed'>;
  const TTL = 60_000;

  beforeEach(async () => {
    inner = new InnerStore();
    store = new NearCachedLoadStore(inner, 100, 5 * 60_000);
    heard = [];
    await store.init({
      notice: (n) => heard.push(n),
      resubscribed: () => heard.push('resubscribed'),
    });
  });
  afterEach(() => store.close());

  /** The answer was served from the near-cache: the store saw no call of `method` for it. */
  async function servedWithout<T>(method: Method, call: () => Promise<T>): Promise<T> {
    const before = inner.count(method);
    const result = await call();
    expect(inner.count(method)).toBe(before);
    return result;
  }

  /** The call went to the store. */
  async function asked<T>(method: Method, call: () => Promise<T>): Promise<T> {
    const before = inner.count(method);
    const result = await call();
    expect(inner.count(method)).toBe(before + 1);
    return result;
  }

  /** `ms`, give or take the few ms of test time since the flag was written (under 500). */
  const about = (ms: number): unknown => expect.closeTo(ms, -3);

  describe('while notifications flow', () => {
    it('answers a user it saw loaded with no call to the store, for the time the flag has left', async () => {
      await store.setLoaded(user(), TTL);
      expect(await servedWithout('flagTtl', () => store.flagTtl(user()))).toEqual(about(TTL));
      const result = await servedWithout('acquire', () =>
        store.acquire(user(), 't', { ttlMs: 5_000, checkFlag: true }),
      );
      expect(result).toEqual({ state: 'loaded', remainingMs: about(TTL) });
      expect(store.cachedLoaded(user().tag)).toBe(true);
      expect(store.cache.size).toBe(1);
    });

    it('keeps a flag the store reported, and never a "not loaded"', async () => {
      await inner.memory.setLoaded(user(), TTL);
      expect(await asked('flagTtl', () => store.flagTtl(user()))).toEqual(about(TTL));
      expect(await servedWithout('flagTtl', () => store.flagTtl(user()))).toEqual(about(TTL));
      expect(await asked('flagTtl', () => store.flagTtl(user(2)))).toBeUndefined();
      expect(await asked('flagTtl', () => store.flagTtl(user(2)))).toBeUndefined();
      expect(store.cache.size).toBe(1);
    });

    it('passes the watch on to the store, which marks a user that is not loaded as waited on', async () => {
      await store.flagTtl(user(), 2_000);
      expect(inner.watches).toEqual([[user().tag, 2_000]]);
    });

    it('goes to the store for a lock, and looks at no cached flag when the caller does not ask', async () => {
      await store.setLoaded(user(), TTL);
      const result = await asked('acquire', () =>
        store.acquire(user(), 't', { ttlMs: 5_000, checkFlag: false }),
      );
      expect(result.state).toBe('acquired');
      expect(
        await asked('acquire', () =>
          store.acquire(user(2), 'u', { ttlMs: 5_000, checkFlag: true }),
        ),
      ).toMatchObject({
        state: 'acquired',
      });
      // A lock is not a flag: the next caller for user 2 is asked to wait, by the store.
      expect(
        await asked('acquire', () =>
          store.acquire(user(2), 'v', { ttlMs: 5_000, checkFlag: true }),
        ),
      ).toMatchObject({
        state: 'held',
      });
      expect(store.cachedLoaded(user(2).tag)).toBe(false);
    });

    it('keeps a "loaded" from an acquire, and whether the store saw a refresh under way', async () => {
      await inner.memory.setLoaded(user(), TTL);
      expect(
        await asked('acquire', () => store.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true })),
      ).toEqual({
        state: 'loaded',
        remainingMs: about(TTL),
      });
      expect(store.cachedLoaded(user().tag)).toBe(true);
      // Nobody refreshes: a caller that refreshes further ahead than the flag has left asks the store.
      expect(store.cachedLoaded(user().tag, TTL + 10_000)).toBe(false);

      // Someone holds the lock in the refresh window: the store says loaded, refreshing.
      await inner.memory.setLoaded(user(2), TTL);
      await inner.memory.acquire(user(2), 'refresher', { ttlMs: 5_000, checkFlag: false });
      expect(
        await asked('acquire', () =>
          store.acquire(user(2), 'b', {
            ttlMs: 5_000,
            checkFlag: true,
            refreshAheadMs: TTL + 10_000,
          }),
        ),
      ).toEqual({ state: 'loaded', remainingMs: about(TTL), refreshing: true });
      expect(store.cachedLoaded(user(2).tag, TTL + 10_000)).toBe(true);
      const served = await servedWithout('acquire', () =>
        store.acquire(user(2), 'c', {
          ttlMs: 5_000,
          checkFlag: true,
          refreshAheadMs: TTL + 10_000,
        }),
      );
      expect(served).toEqual({ state: 'loaded', remainingMs: about(TTL) });
    });

    it('after winning a refresh, answers the others here as loaded while it refreshes', async () => {
      await inner.memory.setLoaded(user(), TTL);
      const ahead = TTL + 10_000;
      const won = await asked('acquire', () =>
        store.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true, refreshAheadMs: ahead }),
      );
      expect(won).toMatchObject({ state: 'acquired', refreshOf: about(TTL) });
      expect(store.cachedLoaded(user().tag, ahead)).toBe(true);
      await servedWithout('acquire', () =>
        store.acquire(user(), 'b', { ttlMs: 5_000, checkFlag: true, refreshAheadMs: ahead }),
      );
    });

    it('keeps what a committed finish wrote, and nothing from one that did not commit', async () => {
      const first = await store.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true });
      expect(first.state).toBe('acquired');
      expect(await store.finish(user(), 'a', { loadedTtlMs: TTL })).toEqual({
        owned: true,
        committed: true,
      });
      expect(await servedWithout('flagTtl', () => store.flagTtl(user()))).toEqual(about(TTL));

      const second = await store.acquire(user(2), 'b', { ttlMs: 5_000, checkFlag: true });
      await inner.memory.clearAllLoaded(); // behind the near-cache's back: the finish's generation is gone
      const generation = second.state === 'acquired' ? second.generation : 'none';
      expect(await store.finish(user(2), 'b', { loadedTtlMs: TTL, generation })).toEqual({
        owned: true,
        committed: false,
      });
      expect(store.cachedLoaded(user(2).tag)).toBe(false);
    });
  });

  describe('while notifications are down', () => {
    it('serves nothing from the near-cache: every answer comes from the store', async () => {
      await store.setLoaded(user(), TTL);
      inner.notificationsLive = false;
      expect(store.cachedLoaded(user().tag)).toBe(false);
      // Cleared in another process; the notice is lost with the channel.
      await inner.memory.clearLoaded(user());
      expect(await asked('flagTtl', () => store.flagTtl(user()))).toBeUndefined();
      expect(
        (
          await asked('acquire', () =>
            store.acquire(user(), 't', { ttlMs: 5_000, checkFlag: true }),
          )
        ).state,
      ).toBe('acquired');
    });
  });

  describe('notices', () => {
    it('drops a user on a clear, everyone on a clear-all or a reconnect, and passes each on', async () => {
      await store.setLoaded(user(), TTL);
      await store.setLoaded(user(2), TTL);
      heard.length = 0;
      inner.listener?.notice({ kind: NoticeKind.Cleared, tag: user().tag });
      expect(store.cachedLoaded(user().tag)).toBe(false);
      expect(store.cachedLoaded(user(2).tag)).toBe(true);
      inner.listener?.notice({ kind: NoticeKind.Loaded, tag: user(2).tag });
      inner.listener?.notice({ kind: NoticeKind.Released, tag: user(2).tag });
      expect(store.cachedLoaded(user(2).tag)).toBe(true);
      inner.listener?.notice({ kind: NoticeKind.ClearedAll, tag: ALL_USERS_TAG });
      expect(store.cache.size).toBe(0);

      await store.setLoaded(user(3), TTL);
      inner.listener?.resubscribed();
      expect(store.cache.size).toBe(0);
      expect(heard).toEqual([
        { kind: NoticeKind.Cleared, tag: user().tag },
        { kind: NoticeKind.Loaded, tag: user(2).tag },
        { kind: NoticeKind.Released, tag: user(2).tag },
        { kind: NoticeKind.ClearedAll, tag: ALL_USERS_TAG },
        { kind: NoticeKind.Loaded, tag: user(3).tag },
        'resubscribed',
      ]);
    });

    it.each([
      [
        'a clear of the user',
        () => inner.listener?.notice({ kind: NoticeKind.Cleared, tag: user().tag }),
      ],
      [
        'a clear-all',
        () => inner.listener?.notice({ kind: NoticeKind.ClearedAll, tag: ALL_USERS_TAG }),
      ],
      ['a reconnect', () => inner.listener?.resubscribed()],
    ])('does not keep a reply that %s overtook', async (_, overtake) => {
      await inner.memory.setLoaded(user(), TTL);
      const release = inner.hold('flagTtl');
      const read = store.flagTtl(user());
      overtake();
      release();
      expect(await read).toEqual(about(TTL)); // the caller gets its answer ...
      expect(store.cachedLoaded(user().tag)).toBe(false); // ... but it is not kept
    });

    it('does not keep an acquire, setLoaded or finish reply that a clear overtook', async () => {
      const clear = () => inner.listener?.notice({ kind: NoticeKind.Cleared, tag: user().tag });
      await inner.memory.setLoaded(user(), TTL);
      let release = inner.hold('acquire');
      const acquire = store.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true });
      clear();
      release();
      expect((await acquire).state).toBe('loaded');
      expect(store.cachedLoaded(user().tag)).toBe(false);

      release = inner.hold('setLoaded');
      const set = store.setLoaded(user(), TTL);
      clear();
      release();
      await set;
      expect(store.cachedLoaded(user().tag)).toBe(false);

      await inner.memory.clearLoaded(user());
      await store.acquire(user(), 'b', { ttlMs: 5_000, checkFlag: true });
      release = inner.hold('finish');
      const finish = store.finish(user(), 'b', { loadedTtlMs: TTL });
      clear();
      release();
      expect(await finish).toMatchObject({ committed: true });
      expect(store.cachedLoaded(user().tag)).toBe(false);
    });
  });

  describe("this process's own clears", () => {
    it('clearLoaded: not served from the near-cache while the clear is under way, nor kept from a read it overtook', async () => {
      await store.setLoaded(user(), TTL);
      const release = inner.hold('clearLoaded');
      const clearing = store.clearLoaded(user());
      // The clear is on its way: the store still holds the flag, but the near-cache no longer answers.
      expect(await asked('flagTtl', () => store.flagTtl(user()))).toEqual(about(TTL));
      release();
      await clearing;
      expect(store.cachedLoaded(user().tag)).toBe(false);
      expect(await asked('flagTtl', () => store.flagTtl(user()))).toBeUndefined();
    });

    it('clearAllLoaded: the same for every user', async () => {
      await store.setLoaded(user(), TTL);
      await store.setLoaded(user(2), TTL);
      const release = inner.hold('clearAllLoaded');
      const clearing = store.clearAllLoaded();
      expect(store.cachedLoaded(user(2).tag)).toBe(false);
      expect(await asked('flagTtl', () => store.flagTtl(user()))).toEqual(about(TTL));
      release();
      await clearing;
      expect(store.cache.size).toBe(0);
      expect(await asked('flagTtl', () => store.flagTtl(user()))).toBeUndefined();
    });

    it('clearLoad: drops every cached flag before the clear goes out, and passes it on', async () => {
      const profile = keys.forLoad('profile', 'user-1');
      await store.setLoaded(profile, TTL);
      await store.setLoaded(user(), TTL);
      const release = inner.hold('clearLoad');
      const clearing = store.clearLoad('profile');
      // A cache cannot tell which of its users are in the load: it drops them all.
      expect(store.cache.size).toBe(0);
      release();
      await clearing;
      expect(await asked('flagTtl', () => store.flagTtl(profile))).toBeUndefined();
      expect(await asked('flagTtl', () => store.flagTtl(user()))).toEqual(about(TTL));
    });

    it('reset: nothing is served while it runs, nothing is left after', async () => {
      await store.setLoaded(user(), TTL);
      const release = inner.hold('reset');
      const resetting = store.reset();
      expect(store.cache.size).toBe(0);
      await store.flagTtl(user()); // read while the reset is under way: the flag is still there
      expect(store.cache.size).toBe(1);
      release();
      await resetting;
      expect(store.cache.size).toBe(0);
    });

    it('close: flushes the near-cache and closes the store behind it', async () => {
      await store.setLoaded(user(), TTL);
      await store.close();
      expect(store.cache.size).toBe(0);
      expect(inner.count('close')).toBe(1);
    });
  });

  describe('the store behind it', () => {
    it('answers for its kind, health, locks and notices', async () => {
      expect(store.kind).toBe('redis');
      expect(store.notices).toBe(inner.notices);
      expect(store.rejection).toBe(inner.rejection);
      expect(store.isDegraded).toBe(false);
      expect(store.notificationsLive).toBe(true);
      inner.notificationsLive = false;
      expect(store.notificationsLive).toBe(false);
      expect((await store.acquire(user(), 'a', { ttlMs: 1_000, checkFlag: false })).state).toBe(
        'acquired',
      );
      expect(await store.extend(user(), 'a', 5_000)).toBe(true);
      expect(await store.extend(user(), 'b', 5_000)).toBe(false);
      expect(await store.release(user(), 'a')).toBe(true);
      expect(await store.release(user(), 'a')).toBe(false);
      await store.acquire(user(), 'c', { ttlMs: 1_000, checkFlag: false });
      heard.length = 0;
      expect(await store.finishLock(user(), 'c')).toBe(true);
      await store.publish(NoticeKind.Released, user(2));
      await store.ping();
      expect(heard).toEqual([
        { kind: NoticeKind.Loaded, tag: user().tag, holder: 'c' },
        { kind: NoticeKind.Released, tag: user(2).tag },
      ]);
      expect(inner.calls.slice(-3)).toEqual(['finishLock', 'publish', 'ping']);
    });
  });
});
