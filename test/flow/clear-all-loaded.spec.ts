/**
 * `clearAllLoaded()`: every user of the prefix becomes not loaded in every process (near-caches
 * included) within notification latency, in O(1) Redis work whatever the number of users, other
 * prefixes untouched; each user then loads once; a load running across it sets no flag; it holds
 * for a process started afterwards. Real Redis, real Nest apps (two per test: two "processes").
 */
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import type { Redis } from 'ioredis';
import { LoadStatusEvents, LoadStatusUnavailableError, type LoadStatusEvent } from '../../src';
import { deferred, startApp, type TestApp } from '../support/apps';
import { inspector, redisUrl, sleep, uniquePrefix, userKey } from '../support/env';
import { RedisServer } from '../support/redis-server';

const users = (n: number, label = 'u') => Array.from({ length: n }, (_, i) => `${label}-${i}`);

/** Polls until `check` holds; returns how long it took, ms (fails the test after 2 s). */
async function within(check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > 2_000) throw new Error('not within 2 s');
    await new Promise((r) => setImmediate(r));
  }
  return performance.now() - started;
}

describe('clearAllLoaded on Redis (two apps, near-caches on)', () => {
  let a: TestApp;
  let b: TestApp;
  let redis: Redis;
  let keyPrefix: string;
  beforeAll(() => {
    redis = inspector();
  });
  afterAll(() => redis.quit());
  beforeEach(async () => {
    keyPrefix = uniquePrefix('clear-all');
    const options = { redis: redisUrl(), keyPrefix };
    [a, b] = await Promise.all([startApp(options), startApp(options)]);
  });
  afterEach(() => Promise.all([a.close(), b.close()]));

  /** Commands Redis ran (those scripts ran included), and SCAN/KEYS among them. */
  async function commandStats(): Promise<{ total: number; scans: number }> {
    const info = await redis.info('commandstats');
    let total = 0;
    let scans = 0;
    for (const [, name, calls] of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
      if (name === 'info') continue;
      total += Number(calls);
      if (name === 'scan' || name === 'keys') scans += Number(calls);
    }
    return { total, scans };
  }

  it('drops every user in every process, near-caches included, and each then loads once', async () => {
    const ids = users(50);
    await Promise.all(ids.map((u) => a.lock.ensureLoaded(u, () => 'v1')));
    // b answers from its near-cache from here on.
    expect(await Promise.all(ids.map((u) => b.status.isLoaded(u)))).not.toContain(false);
    const events: LoadStatusEvent[] = [];
    const sub = a.app.get(LoadStatusEvents).events$.subscribe((e) => events.push(e));

    await a.status.clearAllLoaded();
    sub.unsubscribe();

    const ms = await within(async () =>
      (await Promise.all(ids.map((u) => b.status.isLoaded(u)))).every((x) => !x),
    );
    expect(ms).toBeLessThan(1_000);
    expect(await Promise.all(ids.map((u) => a.status.isLoaded(u)))).not.toContain(true);
    expect(events).toContainEqual(expect.objectContaining({ type: 'all-cleared' }));

    const runs = new Map<string, number>();
    const load = (u: string) => () => void runs.set(u, (runs.get(u) ?? 0) + 1);
    await Promise.all(
      ids.flatMap((u) => [a, b, a, b].map((app) => app.lock.ensureLoaded(u, load(u)))),
    );
    expect([...runs.values()]).toEqual(ids.map(() => 1));
    expect(await Promise.all(ids.map((u) => b.status.isLoaded(u)))).not.toContain(false);
  });

  it('costs the same Redis work for 10 users as for 2,000, with no SCAN or KEYS', async () => {
    const cost = async (n: number, label: string) => {
      await Promise.all(users(n, label).map((u) => a.status.setLoaded(u)));
      const before = await commandStats();
      await a.status.clearAllLoaded();
      const after = await commandStats();
      return { total: after.total - before.total - 1, scans: after.scans - before.scans };
    };
    const few = await cost(10, 'few');
    const many = await cost(2_000, 'many');
    expect(many).toEqual(few);
    expect(many.scans).toBe(0);
  });

  it('leaves other prefixes alone', async () => {
    const other = await startApp({ redis: redisUrl(), keyPrefix: `${keyPrefix}-other` });
    try {
      await Promise.all([a.status.setLoaded('mine'), other.status.setLoaded('theirs')]);
      await a.status.clearAllLoaded();
      expect(await a.status.isLoaded('mine')).toBe(false);
      expect(await other.status.isLoaded('theirs')).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('a load running across it sets no flag, and its waiter loads again in the new generation', async () => {
    const release = deferred();
    const holder = a.lock.ensureLoaded('in-flight', async () => {
      await release.promise;
      return 'old';
    });
    await sleep(50);
    let waiterRan = false;
    const waiter = b.lock.ensureLoaded('in-flight', () => {
      waiterRan = true;
      return 'new';
    });
    await sleep(50);
    await a.status.clearAllLoaded();
    release.resolve();
    await expect(holder).resolves.toMatchObject({ status: 'loaded', value: 'old' });
    await expect(waiter).resolves.toMatchObject({ status: 'loaded', value: 'new' });
    expect(waiterRan).toBe(true);
    expect(await a.status.isLoaded('in-flight')).toBe(true); // the waiter's load counts
  });

  it("a load running across it is not cached as loaded by its own process's near-cache", async () => {
    const release = deferred();
    const holder = a.lock.ensureLoaded('crossing', async () => {
      await release.promise;
      return 'old';
    });
    await sleep(50);
    await b.status.clearAllLoaded();
    await sleep(50); // a's subscriber has seen the notice and flushed
    release.resolve();
    await expect(holder).resolves.toMatchObject({ status: 'loaded', value: 'old' });
    expect(await redis.exists(userKey(keyPrefix, 'crossing', 'loaded'))).toBe(0);
    expect(await a.status.isLoaded('crossing')).toBe(false);
    expect(await a.lock.ensureLoaded('crossing', () => 'new')).toMatchObject({ status: 'loaded' });
  });

  it('holds for a process started after it, and for flags set after it', async () => {
    await a.status.setLoaded('before');
    await a.status.clearAllLoaded();
    await b.close();
    b = await startApp({ redis: redisUrl(), keyPrefix });
    expect(await b.status.isLoaded('before')).toBe(false);
    await b.status.setLoaded('after');
    expect(await a.status.isLoaded('after')).toBe(true);
    expect(await redis.exists(userKey(keyPrefix, 'before', 'loaded'))).toBe(1); // expires by TTL
  });
});

describe('clearAllLoaded elsewhere', () => {
  it('on the in-memory store', async () => {
    const app = await startApp({ keyPrefix: uniquePrefix('clear-all-mem') });
    try {
      await app.status.setLoaded('m');
      await app.status.clearAllLoaded();
      expect(await app.status.isLoaded('m')).toBe(false);
      let runs = 0;
      await Promise.all([1, 2, 3].map(() => app.lock.ensureLoaded('m', () => void runs++)));
      expect(runs).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('with flags in cache-manager', async () => {
    const cache = createCache({ stores: [new Keyv()] });
    const app = await startApp({ cache, keyPrefix: uniquePrefix('clear-all-cm') });
    try {
      await app.lock.ensureLoaded('c', () => 'v');
      expect(await app.status.isLoaded('c')).toBe(true);
      await app.status.clearAllLoaded();
      expect(await app.status.isLoaded('c')).toBe(false);
      expect(await app.lock.ensureLoaded('c', () => 'again')).toMatchObject({ status: 'loaded' });
      expect(await app.status.isLoaded('c')).toBe(true);
    } finally {
      await app.close();
    }
  });

  it('rejects with LoadStatusUnavailableError while Redis is down, even under fail-open', async () => {
    const server = await RedisServer.start();
    const app = await startApp({
      redis: server.url,
      keyPrefix: uniquePrefix('clear-all-down'),
      onStoreError: 'fail-open',
    });
    try {
      await server.kill();
      await expect(app.status.clearAllLoaded()).rejects.toBeInstanceOf(LoadStatusUnavailableError);
    } finally {
      await app.close();
      await server.stop();
    }
  });
});
