/**
 * The cache-manager flag store's own rules as a unit: `CacheFlagLoadStore` over a cache the test
 * scripts (values, expiry times, misses as cache-manager 6 or 7 gives them, errors, no reply) and
 * a `MemoryLoadStore` for its locks. The store contract runs the flow on real cache-manager 6 and
 * 7 caches (in-memory Keyv and @keyv/redis); these are the rules only a scripted cache reaches,
 * found by mutation testing: when a flag counts (its generation, its expiry), the cache-error
 * policy and what it logs, the refresh-ahead window, the generation a load carries, what a finish
 * writes when it lost its lock or its generation, and how `clearAllLoaded` moves the generation on.
 */
import { Logger } from '@nestjs/common';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { LoadStatusConfigError, LoadStatusUnavailableError } from '../../src/errors';
import { KeyBuilder, NoticeKind, type UserKeys } from '../../src/keys';
import type { OnStoreError } from '../../src/load-status.options';
import {
  CacheFlagLoadStore,
  isFlagCache,
  type FlagCache,
} from '../../src/stores/cache-flag-load-store';
import type { AcquireResult, StoreNotice } from '../../src/stores/load-store';
import { MemoryLoadStore } from '../../src/stores/memory-load-store';
import { MAX_TTL_MS } from '../../src/validation';
import { failure, refused } from '../support/failures';

/** Where the stores below keep the flags' generation in the cache. */
const GENERATION_KEY = 'load-status:%gen:generation';

/** A cache over a Map with expiry times on the test's clock; fails every call while `fault` is set. */
class ScriptedCache implements FlagCache {
  readonly entries = new Map<string, { value: unknown; expiresAt?: number }>();
  /** What a miss is: cache-manager 7 answers `undefined`, 6 answers `null`. */
  miss: undefined | null = undefined;
  fault: Error | 'hang' | undefined;
  /** When set, `fault` applies to these methods only. */
  failOnly: ReadonlySet<string> | undefined;
  /** Every call, as `method key`. */
  readonly calls: string[] = [];

  constructor(private readonly clock: () => number) {}

  get<T>(key: string): Promise<T | undefined | null> {
    return this.gate(`get ${key}`, () => (this.live(key)?.value as T | undefined) ?? this.miss);
  }
  set<T>(key: string, value: T, ttl?: number): Promise<T> {
    return this.gate(`set ${key}`, () => {
      this.entries.set(key, {
        value,
        ...(ttl === undefined ? {} : { expiresAt: this.clock() + ttl }),
      });
      return value;
    });
  }
  del(key: string): Promise<boolean> {
    return this.gate(`del ${key}`, () => this.entries.delete(key));
  }
  ttl(key: string): Promise<number | undefined | null> {
    return this.gate(`ttl ${key}`, () => {
      const entry = this.live(key);
      return entry === undefined ? this.miss : entry.expiresAt;
    });
  }

  private live(key: string) {
    const entry = this.entries.get(key);
    return entry?.expiresAt !== undefined && entry.expiresAt <= this.clock() ? undefined : entry;
  }

  private gate<T>(call: string, run: () => T): Promise<T> {
    this.calls.push(call);
    const failing = this.failOnly === undefined || this.failOnly.has(call.split(' ')[0] ?? '');
    if (!failing) return Promise.resolve(run());
    if (this.fault === 'hang') return new Promise<T>(() => undefined);
    if (this.fault !== undefined) return Promise.reject(this.fault);
    return Promise.resolve(run());
  }
}

describe('isFlagCache', () => {
  it('takes a cache-manager Cache and refuses anything that lacks one of get, set, del and ttl', () => {
    const cache = createCache({ stores: [new Keyv({ store: new Map() })] });
    expect(isFlagCache(cache)).toBe(true);
    const complete = { get() {}, set() {}, del() {}, ttl() {} };
    expect(isFlagCache(complete)).toBe(true);
    for (const method of ['get', 'set', 'del', 'ttl'] as const) {
      expect(isFlagCache({ ...complete, [method]: undefined })).toBe(false);
      expect(isFlagCache({ ...complete, [method]: 'not a function' })).toBe(false);
    }
    expect(isFlagCache(null)).toBe(false);
    expect(isFlagCache(undefined)).toBe(false);
    expect(isFlagCache(() => undefined)).toBe(false);
    expect(isFlagCache('cache')).toBe(false);
  });
});

describe('CacheFlagLoadStore', () => {
  const keys = new KeyBuilder('cache-flag-unit');
  const user = (n = 1): UserKeys => keys.forUser(`user-${n}`);
  let time: number;
  const clock = () => time;
  let cache: ScriptedCache;
  let locks: MemoryLoadStore;
  let store: CacheFlagLoadStore;
  let notices: StoreNotice[];
  let warn: jest.SpyInstance;
  let log: jest.SpyInstance;

  beforeEach(async () => {
    time = 1_000_000;
    notices = [];
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    await build('fail-closed');
  });
  afterEach(async () => {
    await store.close();
    jest.restoreAllMocks();
  });

  /** A store over a fresh scripted cache and memory locks, booted. */
  async function build(policy: OnStoreError, timeoutMs = 1_000): Promise<void> {
    cache = new ScriptedCache(clock);
    locks = new MemoryLoadStore('locks', clock);
    store = new CacheFlagLoadStore(cache, locks, {
      onStoreError: policy,
      commandTimeoutMs: timeoutMs,
      generationKey: GENERATION_KEY,
      now: clock,
    });
    await store.init({ notice: (n) => notices.push(n), resubscribed() {} });
  }

  const messages = (spy: jest.SpyInstance) => spy.mock.calls.map((call: unknown[]) => call[0]);
  const acquired = (result: AcquireResult) => {
    if (result.state !== 'acquired') throw new Error(`not acquired: ${JSON.stringify(result)}`);
    return result;
  };

  describe('a flag', () => {
    it('counts while it holds the current generation, for the time its cache entry has left', async () => {
      await cache.set(user().loaded, '1', 5_000);
      time += 1_200;
      expect(await store.flagTtl(user())).toBe(3_800);
      // A number, as some caches give back what they were given, counts the same.
      await cache.set(user(2).loaded, 1, 5_000);
      expect(await store.flagTtl(user(2))).toBe(5_000);
    });

    it('does not count once its generation has moved on, or with no value (either kind of miss)', async () => {
      await cache.set(user().loaded, '1', 5_000);
      await cache.set(GENERATION_KEY, '2');
      expect(await store.flagTtl(user())).toBeUndefined();
      await cache.set(user(2).loaded, '2', 5_000);
      expect(await store.flagTtl(user(2))).toBe(5_000);
      for (const miss of [undefined, null]) {
        cache.miss = miss;
        expect(await store.flagTtl(user(3))).toBeUndefined();
      }
    });

    it('reads generation 1 until the first clearAllLoaded, from a cache-manager 6 cache too', async () => {
      cache.miss = null;
      await cache.set(user().loaded, '1', 5_000);
      expect(await store.flagTtl(user())).toBe(5_000);
      expect(
        acquired(await store.acquire(user(2), 't', { ttlMs: 5_000, checkFlag: true })).generation,
      ).toBe('1');
    });

    it('with no expiry is kept forever; one whose expiry time has come does not count', async () => {
      await cache.set(user().loaded, '1');
      expect(await store.flagTtl(user())).toBe(Number.MAX_SAFE_INTEGER);
      // A cache that still returns the value at or past the expiry time it reports (its clock lags).
      const expiry = jest.spyOn(cache, 'ttl');
      for (const [expiresAt, left] of [
        [time + 10, 10],
        [time, undefined],
        [time - 1, undefined],
      ] as const) {
        expiry.mockResolvedValueOnce(expiresAt);
        expect(await store.flagTtl(user())).toBe(left);
      }
    });

    it('on a real cache-manager 7 cache: kept forever without a TTL, its time left with one', async () => {
      const real = createCache({ stores: [new Keyv({ store: new Map() })] });
      const over = new CacheFlagLoadStore(real, new MemoryLoadStore(), {
        onStoreError: 'fail-closed',
        commandTimeoutMs: 1_000,
        generationKey: GENERATION_KEY,
      });
      try {
        await real.set(user().loaded, '1');
        expect(await over.flagTtl(user())).toBe(Number.MAX_SAFE_INTEGER);
        await real.set(user(2).loaded, '1', 60_000);
        const left = await over.flagTtl(user(2));
        expect(left).toBeGreaterThan(59_000);
        expect(left).toBeLessThanOrEqual(60_000);
      } finally {
        await over.close();
        await real.disconnect();
      }
    });

    it('marks a user as waited on in the lock store only when asked to watch and not loaded', async () => {
      const watched = jest.spyOn(locks, 'flagTtl');
      await store.flagTtl(user(), 2_000);
      expect(
        (watched.mock.calls as Array<[UserKeys, number?]>).map(([u, ms]) => [u.tag, ms]),
      ).toEqual([[user().tag, 2_000]]);
      watched.mockClear();
      await store.flagTtl(user());
      expect(watched).not.toHaveBeenCalled();
      await cache.set(user().loaded, '1', 5_000);
      await store.flagTtl(user(), 2_000);
      expect(watched).not.toHaveBeenCalled();
    });
  });

  describe('setLoaded and clearLoaded', () => {
    it('write the flag in the current generation with its TTL, then tell every process', async () => {
      await cache.set(GENERATION_KEY, '4');
      await store.setLoaded(user(), 5_000);
      expect(cache.entries.get(user().loaded)).toEqual({ value: '4', expiresAt: time + 5_000 });
      expect(await store.flagTtl(user())).toBe(5_000);
      await store.clearLoaded(user());
      expect(cache.entries.has(user().loaded)).toBe(false);
      expect(notices.map((n) => n.kind)).toEqual([NoticeKind.Loaded, NoticeKind.Cleared]);
      expect(notices.every((n) => n.tag === user().tag)).toBe(true);
    });
  });

  describe('the cache-error policy', () => {
    it('fail-closed: a cache error is LoadStatusUnavailableError naming the operation', async () => {
      cache.fault = refused();
      const cases: Array<[string, () => Promise<unknown>]> = [
        ['isLoaded', () => store.flagTtl(user())],
        ['isLoaded', () => store.acquire(user(), 't', { ttlMs: 5_000, checkFlag: true })],
        ['setLoaded', () => store.setLoaded(user(), 5_000)],
        ['clearLoaded', () => store.clearLoaded(user())],
      ];
      for (const [operation, call] of cases) {
        const error = await failure(call());
        expect(error).toBeInstanceOf(LoadStatusUnavailableError);
        expect(error.message).toBe(
          `Load status store unavailable during ${operation}: connect ECONNREFUSED 127.0.0.1:1. ` +
            "Check that Redis is reachable, or set onStoreError: 'fail-open' to degrade to in-process coordination.",
        );
        expect((error as LoadStatusUnavailableError).operation).toBe(operation);
      }
      expect(notices).toEqual([]);
      expect(warn).not.toHaveBeenCalled();
    });

    it("fail-closed: names the finish's own reads and writes (the generation check, the flag's delete)", async () => {
      cache.fault = refused();
      // The generation the load began in is checked first.
      const check = await failure(
        store.finish(user(), 'a', { loadedTtlMs: 5_000, generation: '1' }),
      );
      expect((check as LoadStatusUnavailableError).operation).toBe('isLoaded');
      // A refresh that keeps nothing deletes the flag it found: the delete is what fails.
      cache.fault = undefined;
      await store.setLoaded(user(), 5_000);
      time += 4_500;
      const lease = acquired(
        await store.acquire(user(), 'b', { ttlMs: 5_000, checkFlag: true, refreshAheadMs: 1_000 }),
      );
      cache.fault = refused();
      cache.failOnly = new Set(['del']);
      const deletion = await failure(
        store.finish(user(), 'b', { loadedTtlMs: 0, generation: lease.generation }),
      );
      expect((deletion as LoadStatusUnavailableError).operation).toBe('clearLoaded');
    });

    it('fail-closed: a cache that does not answer is cut off after commandTimeoutMs, not wrapped twice', async () => {
      await store.close();
      await build('fail-closed', 40);
      cache.fault = 'hang';
      const error = await failure(store.flagTtl(user()));
      expect(error).toBeInstanceOf(LoadStatusUnavailableError);
      expect(error.message).toMatch(
        /^Load status store unavailable during isLoaded: no reply within 40 ms\. /,
      );
    });

    it('fail-open: reads as not loaded, skips the write, warns once, and logs when the cache is back', async () => {
      await store.close();
      await build('fail-open');
      await store.setLoaded(user(2), 60_000);
      cache.fault = refused();
      expect(await store.flagTtl(user(2))).toBeUndefined();
      // The lock still coordinates the load, in generation 1.
      const result = acquired(await store.acquire(user(), 't', { ttlMs: 5_000, checkFlag: true }));
      expect(result.generation).toBe('1');
      await store.setLoaded(user(), 5_000);
      await store.clearLoaded(user());
      expect(messages(warn)).toEqual([
        'cache error during isLoaded (connect ECONNREFUSED 127.0.0.1:1); flags read as not loaded meanwhile',
      ]);
      expect((warn.mock.contexts[0] as { context?: string }).context).toBe('LoadStatus');
      // Every process is still told (notices go through the lock store).
      expect(notices.map((n) => n.kind)).toEqual([
        NoticeKind.Loaded,
        NoticeKind.Loaded,
        NoticeKind.Cleared,
      ]);
      expect(messages(log)).toEqual([]);

      cache.fault = undefined;
      expect(await store.flagTtl(user(2))).toBe(60_000);
      expect(await store.flagTtl(user(2))).toBe(60_000);
      expect(messages(log)).toEqual(['cache reachable again']);
      expect((log.mock.contexts[0] as { context?: string }).context).toBe('LoadStatus');
      cache.fault = refused();
      await store.flagTtl(user(2));
      expect(messages(warn)).toHaveLength(2);
    });

    it('clearAllLoaded is never skipped: it fails under either policy when the cache cannot take it', async () => {
      for (const policy of ['fail-open', 'fail-closed'] as const) {
        await store.close();
        await build(policy);
        cache.fault = refused();
        const error = await failure(store.clearAllLoaded());
        expect(error).toBeInstanceOf(LoadStatusUnavailableError);
        expect(error.message).toMatch(
          /^Load status store unavailable during clearAllLoaded: connect ECONNREFUSED 127\.0\.0\.1:1\. /,
        );
        expect(notices).toEqual([]);
      }
      await store.close();
      await build('fail-open', 40);
      cache.fault = 'hang';
      const error = await failure(store.clearAllLoaded());
      expect(error.message).toMatch(
        /^Load status store unavailable during clearAllLoaded: no reply within 40 ms\. /,
      );
    });
  });

  describe('acquire', () => {
    it('answers loaded from the flag without taking the lock, and looks at no flag when not asked', async () => {
      await store.setLoaded(user(), 5_000);
      expect(await store.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true })).toEqual({
        state: 'loaded',
        remainingMs: 5_000,
      });
      await cache.set(GENERATION_KEY, '7');
      cache.calls.length = 0;
      const result = acquired(await store.acquire(user(), 'b', { ttlMs: 5_000, checkFlag: false }));
      expect(cache.calls).toEqual([]);
      // The lock store's own answer, its generation included.
      expect(result.generation).toBe('1');
      expect((await store.acquire(user(), 'c', { ttlMs: 5_000, checkFlag: false })).state).toBe(
        'held',
      );

      // Asked to check the flag and told to wait: the lock store's answer as it is, after one flag read.
      acquired(await store.acquire(user(2), 'x', { ttlMs: 5_000, checkFlag: true }));
      cache.calls.length = 0;
      expect(await store.acquire(user(2), 'y', { ttlMs: 5_000, checkFlag: true })).toEqual({
        state: 'held',
        remainingMs: 5_000,
        holder: 'x',
      });
      expect(cache.calls.filter((c) => c.endsWith(user(2).loaded))).toHaveLength(2);
    });

    it('in the refresh window, a lock the lock store took but could not replicate is no refresh under way', async () => {
      await store.setLoaded(user(), 5_000);
      time += 4_500;
      jest
        .spyOn(locks, 'acquire')
        .mockResolvedValueOnce({ state: 'unreplicated', acks: 0, replicas: 1 });
      expect(
        await store.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true, refreshAheadMs: 1_000 }),
      ).toEqual({
        state: 'loaded',
        remainingMs: 500,
        refreshing: false,
      });
    });

    it('in the refresh window: one caller takes the lock to refresh, the others are served as loaded', async () => {
      await store.setLoaded(user(), 5_000);
      time += 4_000;
      // 1000 ms left, refreshing 1000 ms ahead: still loaded.
      expect(
        await store.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true, refreshAheadMs: 1_000 }),
      ).toEqual({
        state: 'loaded',
        remainingMs: 1_000,
      });
      time += 1;
      const first = acquired(
        await store.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true, refreshAheadMs: 1_000 }),
      );
      expect(first).toMatchObject({ generation: '1', refreshOf: 999 });
      expect(
        await store.acquire(user(), 'b', { ttlMs: 5_000, checkFlag: true, refreshAheadMs: 1_000 }),
      ).toEqual({
        state: 'loaded',
        remainingMs: 999,
        refreshing: true,
      });
    });

    it("carries the cache's generation, not the lock store's, into the load", async () => {
      await cache.set(GENERATION_KEY, '7');
      expect(
        acquired(await store.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true })).generation,
      ).toBe('7');
      await store.setLoaded(user(2), 5_000);
      time += 4_500;
      const refresh = acquired(
        await store.acquire(user(2), 'b', { ttlMs: 5_000, checkFlag: true, refreshAheadMs: 1_000 }),
      );
      expect(refresh.generation).toBe('7');
    });
  });

  describe('finish', () => {
    it('writes the flag in the generation the load began in, with its TTL, and releases the lock', async () => {
      const lease = acquired(await store.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true }));
      notices.length = 0;
      expect(
        await store.finish(user(), 'a', { loadedTtlMs: 7_000, generation: lease.generation }),
      ).toEqual({
        owned: true,
        committed: true,
      });
      expect(cache.entries.get(user().loaded)).toEqual({ value: '1', expiresAt: time + 7_000 });
      expect(notices.map((n) => n.kind)).toContain(NoticeKind.Loaded);
      expect((await store.acquire(user(), 'b', { ttlMs: 5_000, checkFlag: false })).state).toBe(
        'acquired',
      );
    });

    it('a load begun before a clearAllLoaded sets no flag and gives the lock back for waiters to retry', async () => {
      const lease = acquired(await store.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true }));
      await store.clearAllLoaded();
      notices.length = 0;
      expect(
        await store.finish(user(), 'a', { loadedTtlMs: 5_000, generation: lease.generation }),
      ).toEqual({
        owned: true,
        committed: false,
      });
      expect(cache.entries.has(user().loaded)).toBe(false);
      expect(notices.map((n) => n.kind)).toEqual([NoticeKind.Released]);
      expect((await store.acquire(user(), 'b', { ttlMs: 5_000, checkFlag: false })).state).toBe(
        'acquired',
      );
    });

    it('with loadedTtlMs 0 deletes the flag (a refresh that keeps nothing)', async () => {
      await store.setLoaded(user(), 5_000);
      time += 4_500;
      const lease = acquired(
        await store.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true, refreshAheadMs: 1_000 }),
      );
      expect(
        await store.finish(user(), 'a', { loadedTtlMs: 0, generation: lease.generation }),
      ).toEqual({
        owned: true,
        committed: true,
      });
      expect(cache.entries.has(user().loaded)).toBe(false);
      expect(await store.flagTtl(user())).toBeUndefined();
    });

    it("a holder that lost its lock leaves a later load's flag alone, but still commits its own", async () => {
      const stale = acquired(await store.acquire(user(), 'a', { ttlMs: 1_000, checkFlag: true }));
      time += 1_500; // a's lease ran out
      const later = acquired(await store.acquire(user(), 'b', { ttlMs: 5_000, checkFlag: true }));
      expect(
        await store.finish(user(), 'b', { loadedTtlMs: 9_000, generation: later.generation }),
      ).toMatchObject({
        committed: true,
      });
      expect(
        await store.finish(user(), 'a', { loadedTtlMs: 3_000, generation: stale.generation }),
      ).toEqual({
        owned: false,
        committed: true,
      });
      expect(cache.entries.get(user().loaded)).toEqual({ value: '1', expiresAt: time + 9_000 });

      // With no flag there, a holder that lost its lock writes its own (nothing to overwrite).
      const lost = acquired(await store.acquire(user(2), 'c', { ttlMs: 1_000, checkFlag: true }));
      time += 1_500;
      expect(
        await store.finish(user(2), 'c', { loadedTtlMs: 3_000, generation: lost.generation }),
      ).toEqual({
        owned: false,
        committed: true,
      });
      expect(await store.flagTtl(user(2))).toBe(3_000);
    });

    it('a holder that still owns its lock replaces the flag it finds (a refresh)', async () => {
      await store.setLoaded(user(), 5_000);
      time += 4_500;
      const lease = acquired(
        await store.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true, refreshAheadMs: 1_000 }),
      );
      expect(
        await store.finish(user(), 'a', { loadedTtlMs: 8_000, generation: lease.generation }),
      ).toEqual({
        owned: true,
        committed: true,
      });
      expect(await store.flagTtl(user())).toBe(8_000);
    });
  });

  describe('clearAllLoaded', () => {
    it('moves the generation on, kept as long as any flag can live, then tells every process', async () => {
      await store.setLoaded(user(), 5_000);
      notices.length = 0;
      await store.clearAllLoaded();
      expect(cache.entries.get(GENERATION_KEY)).toEqual({
        value: '2',
        expiresAt: time + MAX_TTL_MS,
      });
      expect(await store.flagTtl(user())).toBeUndefined();
      expect(notices.map((n) => n.kind)).toEqual([NoticeKind.ClearedAll]);
      await store.clearAllLoaded();
      expect(cache.entries.get(GENERATION_KEY)?.value).toBe('3');
    });

    it('starts again from 2 over a generation that is not a number', async () => {
      await cache.set(GENERATION_KEY, 'garbled');
      await store.clearAllLoaded();
      expect(cache.entries.get(GENERATION_KEY)?.value).toBe('2');
      await cache.set(GENERATION_KEY, '0');
      await store.clearAllLoaded();
      expect(cache.entries.get(GENERATION_KEY)?.value).toBe('2');
    });

    it('of one load is refused with a typed error saying why, and nothing is cleared', async () => {
      await store.setLoaded(keys.forLoad('profile', 'user-1'), 5_000);
      const error = await store.clearLoad('profile').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LoadStatusConfigError);
      expect(error).toMatchObject({ option: 'clearAllLoaded({ name })' });
      expect((error as Error).message).toBe(
        'Invalid load-status option "clearAllLoaded({ name })": cannot clear every flag of the load "profile" while flags live in a cache-manager cache (a cache cannot be listed); delete the cached data itself, or clear every load with clearAllLoaded().',
      );
      expect(await store.flagTtl(keys.forLoad('profile', 'user-1'))).toBe(5_000);
    });
  });

  describe('the lock store', () => {
    it('answers for locks, notices and health; reset and close leave the cache alone', async () => {
      expect(store.kind).toBe('cache-manager');
      expect(store.notificationsLive).toBe(locks.notificationsLive);
      expect(store.isDegraded).toBe(locks.isDegraded);
      expect(store.notices).toBe(locks.notices);
      const refusal = { reason: 'NOPERM', fix: 'grant it' };
      Object.defineProperty(locks, 'rejection', { value: refusal });
      expect(store.rejection).toBe(refusal);
      acquired(await store.acquire(user(), 'a', { ttlMs: 1_000, checkFlag: false }));
      expect(await store.extend(user(), 'a', 5_000)).toBe(true);
      expect(await store.extend(user(), 'b', 5_000)).toBe(false);
      time += 2_000;
      expect((await locks.acquire(user(), 'x', { ttlMs: 1_000, checkFlag: false })).state).toBe(
        'held',
      );
      expect(await store.release(user(), 'a')).toBe(true);
      acquired(await store.acquire(user(), 'c', { ttlMs: 1_000, checkFlag: false }));
      expect(await store.finishLock(user(), 'c')).toBe(true);
      expect(await store.finishLock(user(), 'c')).toBe(false);
      notices.length = 0;
      await store.publish(NoticeKind.Cleared, user(3));
      expect(notices).toEqual([
        expect.objectContaining({ kind: NoticeKind.Cleared, tag: user(3).tag }),
      ]);
      await store.ping();
      jest.spyOn(locks, 'ping').mockRejectedValueOnce(refused());
      expect((await failure(store.ping())).message).toBe('connect ECONNREFUSED 127.0.0.1:1');

      await store.setLoaded(user(2), 5_000);
      acquired(await store.acquire(user(), 'd', { ttlMs: 5_000, checkFlag: false }));
      await store.reset();
      expect((await locks.acquire(user(), 'e', { ttlMs: 1_000, checkFlag: false })).state).toBe(
        'acquired',
      );
      expect(await store.flagTtl(user(2))).toBe(5_000);
      const closed = jest.spyOn(locks, 'close');
      await store.close();
      expect(closed).toHaveBeenCalledTimes(1);
      expect(cache.entries.has(user(2).loaded)).toBe(true);
    });

    it('close ends a cache call still in flight, so nothing waits on a cache that never answers', async () => {
      await store.close();
      await build('fail-closed', 60_000);
      cache.fault = 'hang';
      const pending = failure(store.flagTtl(user()));
      await store.close();
      expect((await pending).message).toMatch(
        /^Load status store unavailable during isLoaded: no reply within 60000 ms/,
      );
    });
  });
});
