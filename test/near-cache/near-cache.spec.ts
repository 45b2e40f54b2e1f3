import { Redis } from 'ioredis';
import { LoadStatusCore } from '../../src/load-status.core';
import { NearCache } from '../../src/stores/near-cache';
import { startApp, startAppOn, type TestApp } from '../support/apps';
import { sleep, uniquePrefix, userKey } from '../support/env';
import { createTestRedisClient, NODE_REDIS_FLAVOURS } from '../support/redis-clients';
import { RedisServer } from '../support/redis-server';
import { cutOffSubscribers } from '../support/subscribers';

describe('NearCache', () => {
  let clock = 0;
  const now = () => clock;
  beforeEach(() => (clock = 1_000));

  it('expires an entry no later than the remaining TTL counted from when the command was sent', () => {
    const cache = new NearCache(10, 60_000, now);
    const at = cache.snapshot();
    clock += 30; // the reply arrives 30 ms later
    cache.fill('u', 100, at);
    expect(cache.remaining('u')).toBe(70);
    clock += 69;
    expect(cache.remaining('u')).toBe(1);
    clock += 1;
    expect(cache.remaining('u')).toBeUndefined();
  });

  it('caps an entry at maxAgeMs', () => {
    const cache = new NearCache(10, 50, now);
    cache.fill('u', 3_600_000, cache.snapshot());
    clock += 50;
    expect(cache.remaining('u')).toBeUndefined();
  });

  it('drops a reply that was in flight while the user was invalidated', () => {
    const cache = new NearCache(10, 60_000, now);
    const at = cache.snapshot();
    cache.invalidate('u'); // a clear overtook the read
    cache.fill('u', 1_000, at);
    expect(cache.remaining('u')).toBeUndefined();
    cache.fill('u', 1_000, cache.snapshot());
    expect(cache.remaining('u')).toBe(1_000);
  });

  it('evicts the least recently used entry beyond maxEntries (recency refreshed at most once a second)', () => {
    const cache = new NearCache(2, 60_000, now);
    cache.fill('a', 10_000, cache.snapshot());
    cache.fill('b', 10_000, cache.snapshot());
    clock += 1_000; // recency is refreshed at most once a second per entry
    cache.remaining('a'); // a is now the most recently used
    cache.fill('c', 10_000, cache.snapshot());
    expect(cache.remaining('b')).toBeUndefined();
    expect(cache.remaining('a')).toBeDefined();
    expect(cache.remaining('c')).toBeDefined();
    expect(cache.size).toBe(2);
  });
  it('refreshes recency once a second, not sooner: a hit 999 ms after the fill leaves it oldest', () => {
    const cache = new NearCache(2, 60_000, now);
    cache.fill('a', 10_000, cache.snapshot());
    cache.fill('b', 10_000, cache.snapshot());
    clock += 999;
    cache.remaining('a');
    cache.fill('c', 10_000, cache.snapshot());
    expect(cache.remaining('a')).toBeUndefined();
    expect(cache.remaining('b')).toBeDefined();
  });

  it('moves an entry filled again to the most recent end', () => {
    const cache = new NearCache(2, 60_000, now);
    cache.fill('a', 10_000, cache.snapshot());
    cache.fill('b', 10_000, cache.snapshot());
    cache.fill('a', 10_000, cache.snapshot());
    cache.fill('c', 10_000, cache.snapshot());
    expect(cache.remaining('b')).toBeUndefined();
    expect(cache.remaining('a')).toBe(10_000);
    expect(cache.size).toBe(2);
  });

  it('keeps nothing from a reply that arrives after its flag ran out', () => {
    const cache = new NearCache(10, 60_000, now);
    const at = cache.snapshot();
    clock += 100;
    cache.fill('u', 100, at);
    expect(cache.size).toBe(0);
    cache.fill('u', 101, at);
    expect(cache.remaining('u')).toBe(1);
  });

  it('drops a reply in flight across any invalidation, and across a flush', () => {
    const cache = new NearCache(10, 60_000, now);
    cache.fill('kept', 1_000, cache.snapshot());
    const before = cache.snapshot();
    cache.invalidate('other'); // a clear of another user: the generation is one for all
    cache.fill('u', 1_000, before);
    expect(cache.remaining('u')).toBeUndefined();
    expect(cache.remaining('kept')).toBe(1_000);
    const beforeFlush = cache.snapshot();
    cache.flush();
    expect(cache.size).toBe(0);
    cache.fill('u', 1_000, beforeFlush);
    expect(cache.size).toBe(0);
  });

  it.each([
    ['a flush, then a clear', (cache: NearCache) => (cache.flush(), cache.invalidate('x'))],
    ['a clear, then a flush', (cache: NearCache) => (cache.invalidate('x'), cache.flush())],
  ])('drops a reply in flight across %s', (_, clears) => {
    const cache = new NearCache(10, 60_000, now);
    const at = cache.snapshot();
    clears(cache);
    cache.fill('u', 1_000, at);
    expect(cache.size).toBe(0);
  });

  it('counts fills toward the sweep too: the 1,024th operation sweeps, a fill or not', () => {
    const cache = new NearCache(10_000, 60_000, now);
    cache.fill('gone', 10, cache.snapshot());
    clock += 10;
    for (let i = 0; i < 1_024 - 2; i++) cache.fill('live', 60_000, cache.snapshot());
    expect(cache.size).toBe(2);
    cache.fill('live', 60_000, cache.snapshot()); // the 1,024th
    expect(cache.size).toBe(1);
  });

  describe('fresh(tag, refreshAheadMs)', () => {
    it('is false for no entry, true for a live one when nothing refreshes ahead', () => {
      const cache = new NearCache(10, 60_000, now);
      expect(cache.fresh('u', 0)).toBe(false);
      cache.fill('u', 100, cache.snapshot());
      expect(cache.fresh('u', 0)).toBe(true);
      clock += 100;
      expect(cache.fresh('u', 0)).toBe(false);
    });

    it("counts the flag's own end, not the entry's (capped at maxAgeMs)", () => {
      // The entry lasts 1 s (maxAgeMs); the flag has 10 s left, so 9 s ahead is still fresh.
      const cache = new NearCache(10, 1_000, now);
      cache.fill('u', 10_000, cache.snapshot());
      clock += 500;
      expect(cache.fresh('u', 9_500)).toBe(true);
      expect(cache.fresh('u', 9_501)).toBe(false);
    });

    it('is true in the refresh window once someone was seen refreshing', () => {
      const cache = new NearCache(10, 60_000, now);
      cache.fill('u', 1_000, cache.snapshot(), true);
      expect(cache.fresh('u', 5_000)).toBe(true);
      cache.fill('u', 1_000, cache.snapshot(), false);
      expect(cache.fresh('u', 5_000)).toBe(false);
      expect(cache.fresh('u', 1_000)).toBe(true);
    });
  });

  it('sweeps expired entries every 1,024 operations, so memory follows live users only', () => {
    const cache = new NearCache(10_000, 60_000, now);
    for (let i = 0; i < 100; i++) cache.fill(`gone-${i}`, 10, cache.snapshot());
    cache.fill('live', 60_000, cache.snapshot());
    clock += 10;
    expect(cache.size).toBe(101); // expired, but not yet swept
    // 101 fills so far; the sweep runs on the 1,024th operation, hits and misses counted too.
    for (let i = 0; i < 1_024 - 101 - 1; i++) cache.remaining('live');
    expect(cache.size).toBe(101);
    cache.remaining('missing');
    expect(cache.size).toBe(1);
    expect(cache.remaining('live')).toBeDefined();
    // And again 1,024 operations later, counted from the sweep (the check above was one).
    for (let i = 0; i < 50; i++) cache.fill(`gone-again-${i}`, 10, cache.snapshot());
    clock += 10;
    for (let i = 0; i < 1_024 - 1 - 50 - 1; i++) cache.remaining('live');
    expect(cache.size).toBe(51);
    cache.remaining('live');
    expect(cache.size).toBe(1);
  });

  it('sweep() drops only the entries that have ended', () => {
    const cache = new NearCache(10, 60_000, now);
    cache.fill('ends', 10, cache.snapshot());
    cache.fill('lasts', 11, cache.snapshot());
    clock += 10;
    cache.sweep();
    expect(cache.size).toBe(1);
    expect(cache.remaining('lasts')).toBe(1);
  });
});

describe('near-cache with Redis', () => {
  let server: RedisServer;
  let inspect: Redis;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    server = await RedisServer.start();
    inspect = new Redis(server.url);
  });
  afterAll(async () => {
    await inspect.quit();
    await server.stop();
  });
  beforeEach(async () => {
    const options = {
      redis: server.url,
      keyPrefix: uniquePrefix('near'),
      nearCache: { maxEntries: 100, maxAgeMs: 60_000 },
    };
    [a, b] = await Promise.all([startApp(options), startApp(options)]);
  });
  afterEach(() => Promise.all([a.close(), b.close()]));

  /** Commands the server has executed so far, minus the INFO calls that count them. */
  /** Commands Redis ran (those a script runs included), or only those named `only`. */
  async function commandsSoFar(only?: string): Promise<number> {
    const info = await inspect.info('commandstats');
    let total = 0;
    for (const match of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm))
      if (match[1] !== 'info' && (only === undefined || match[1] === only))
        total += Number(match[2]);
    return total;
  }

  /**
   * The near-cache across outages of its notification channel, on `app()`: the module's own
   * ioredis here, and borrowed node-redis clients below (each client library reconnects and
   * re-subscribes in its own way).
   */
  function acrossReconnects(app: () => TestApp): void {
    it('is flushed when the notification channel reconnects', async () => {
      const near = app().app.get(LoadStatusCore).nearCache!;
      await app().status.setLoaded('x');
      expect(near.cache.size).toBe(1);
      await inspect.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      const deadline = performance.now() + 2_000;
      while (near.cache.size > 0 && performance.now() < deadline) await sleep(10);
      expect(near.cache.size).toBe(0);
      expect(near.notificationsLive).toBe(true);
    });

    it('is bypassed while the notification channel is down: a clear it cannot hear of is seen at once', async () => {
      const { status, lock } = app();
      const core = app().app.get(LoadStatusCore);
      const flag = userKey(core.options.keyPrefix, 'stale', 'loaded');
      await status.setLoaded('stale');
      expect(await status.isLoaded('stale')).toBe(true); // cached now
      const restore = await cutOffSubscribers(inspect);
      try {
        const deadline = performance.now() + 2_000;
        while (core.store.notificationsLive && performance.now() < deadline) await sleep(5);
        expect(core.store.notificationsLive).toBe(false);
        // A clear whose notice nobody can receive (as if it were lost with the connection).
        expect(await inspect.del(flag)).toBe(1);
        expect(await status.isLoaded('stale')).toBe(false);
        expect(await lock.ensureLoaded('stale', () => Promise.resolve('again'))).toMatchObject({
          status: 'loaded',
          value: 'again',
        });
      } finally {
        await restore();
      }
      const deadline = performance.now() + 5_000;
      while (!core.store.notificationsLive && performance.now() < deadline) await sleep(10);
      expect(core.store.notificationsLive).toBe(true);
    });
  }
  acrossReconnects(() => a);

  it('answers isLoaded and ensureLoaded for a loaded user without a Redis command', async () => {
    await a.lock.ensureLoaded('hot', () => Promise.resolve());
    const before = await commandsSoFar();
    for (let i = 0; i < 1_000; i++) {
      expect(await a.status.isLoaded('hot')).toBe(true);
      expect(
        await a.lock.ensureLoaded('hot', () => Promise.reject(new Error('must not run'))),
      ).toEqual({ status: 'already-loaded' });
    }
    expect((await commandsSoFar()) - before).toBe(0);
  });

  it('is dropped in every process when any process clears the flag', async () => {
    await a.status.setLoaded('changing');
    expect(await b.status.isLoaded('changing')).toBe(true); // b has it cached now
    await a.status.clearLoaded('changing');
    const deadline = performance.now() + 1_000;
    while ((await b.status.isLoaded('changing')) && performance.now() < deadline) await sleep(5);
    expect(await b.status.isLoaded('changing')).toBe(false);
  });

  it('never outlives the flag in Redis', async () => {
    await a.status.setLoaded('short', 80);
    expect(await a.status.isLoaded('short')).toBe(true);
    await sleep(100);
    expect(
      await inspect.exists(userKey(a.app.get(LoadStatusCore).options.keyPrefix, 'short', 'loaded')),
    ).toBe(0);
    expect(await a.status.isLoaded('short')).toBe(false);
  });

  it('can be turned off', async () => {
    const off = await startApp({
      redis: server.url,
      keyPrefix: uniquePrefix('off'),
      nearCache: false,
    });
    try {
      expect(off.app.get(LoadStatusCore).nearCache).toBeUndefined();
      await off.status.setLoaded('u');
      const before = await commandsSoFar();
      const scriptsBefore = await commandsSoFar('evalsha');
      expect(await off.status.isLoaded('u')).toBe(true);
      // One round trip: a script that reads the flag and its group's generation.
      expect((await commandsSoFar('evalsha')) - scriptsBefore).toBe(1);
      expect((await commandsSoFar()) - before).toBe(4);
    } finally {
      await off.close();
    }
  });

  describe.each(NODE_REDIS_FLAVOURS)('on a borrowed %s client', (flavour) => {
    let app: TestApp;
    beforeEach(async () => {
      app = await startAppOn(await createTestRedisClient(flavour, server.url), {
        keyPrefix: uniquePrefix('near'),
        nearCache: { maxEntries: 100, maxAgeMs: 60_000 },
      });
    });
    afterEach(() => app.close());
    acrossReconnects(() => app);
  });
});
