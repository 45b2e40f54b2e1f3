/**
 * Adaptive TTLs: the loader sets the flag's TTL from what it loaded (`ctx.setLoadedTtl`), and the
 * decorator's `loadedTtlMs` may be a function of the method's arguments. On real Redis (the TTL
 * is read back with PTTL) and on the in-memory store.
 */
import { Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { LoadStatusConfigError, WithUserLoadLock, type LoadStatusModuleOptions } from '../../src';
import { deferred, startApp, type TestApp } from '../support/apps';
import { inspector, redisUrl, sleep, uniquePrefix, userKey } from '../support/env';

describe('ctx.setLoadedTtl on Redis', () => {
  let a: TestApp;
  let b: TestApp;
  let redis: Redis;
  let keyPrefix: string;
  beforeAll(() => {
    redis = inspector();
  });
  afterAll(() => redis.quit());
  beforeEach(async () => {
    keyPrefix = uniquePrefix('adaptive');
    const options: LoadStatusModuleOptions = { redis: redisUrl(), keyPrefix, nearCache: false };
    [a, b] = await Promise.all([startApp(options), startApp(options)]);
  });
  afterEach(() => Promise.all([a.close(), b.close()]));

  it('keeps the user loaded for the TTL the loader chose, not the call default', async () => {
    await a.lock.ensureLoaded('short', (ctx) => ctx.setLoadedTtl(300), { loadedTtlMs: 3_600_000 });
    const pttl = await redis.pttl(userKey(keyPrefix, 'short', 'loaded'));
    expect(pttl).toBeGreaterThan(200);
    expect(pttl).toBeLessThanOrEqual(300);
    await sleep(350);
    let runs = 0;
    await b.lock.ensureLoaded('short', () => void runs++);
    expect(runs).toBe(1);
  });

  it('0: the callers waiting for the load are served, and nothing stays loaded', async () => {
    const release = deferred();
    const holder = a.lock.ensureLoaded('zero', async (ctx) => {
      await release.promise;
      ctx.setLoadedTtl(0);
      return 'value';
    });
    await sleep(50);
    const waiter = b.lock.ensureLoaded('zero', () => 'should not run');
    await sleep(50);
    release.resolve();
    await expect(holder).resolves.toMatchObject({ status: 'loaded', value: 'value' });
    await expect(waiter).resolves.toMatchObject({ status: 'loaded-elsewhere' });
    expect(await redis.exists(userKey(keyPrefix, 'zero', 'loaded'))).toBe(0);
    expect(await redis.exists(userKey(keyPrefix, 'zero', 'lock'))).toBe(0);
    await expect(b.lock.ensureLoaded('zero', () => 'again')).resolves.toMatchObject({
      status: 'loaded',
      value: 'again',
    });
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 31, '100'])(
    'rejects %p with a LoadStatusConfigError naming it, writes no flag and gives the lock back',
    async (bad) => {
      const call = a.lock.ensureLoaded('bad-ttl', (ctx) => ctx.setLoadedTtl(bad as number));
      await expect(call).rejects.toThrow(LoadStatusConfigError);
      await expect(call).rejects.toThrow(/ctx\.setLoadedTtl\(ms\)/);
      expect(await redis.exists(userKey(keyPrefix, 'bad-ttl', 'loaded'))).toBe(0);
      // The lock is free at once (no lease to sit out).
      const lock = await b.lock.acquireLoadLock('bad-ttl');
      expect(lock).not.toBeNull();
    },
  );
});

describe('ctx.setLoadedTtl on the in-memory store', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startApp({ keyPrefix: uniquePrefix('adaptive-mem') });
  });
  afterEach(() => app.close());

  it('expires the flag after the TTL the loader chose', async () => {
    await app.lock.ensureLoaded('m', (ctx) => ctx.setLoadedTtl(100));
    expect(await app.status.isLoaded('m')).toBe(true);
    await sleep(150);
    expect(await app.status.isLoaded('m')).toBe(false);
  });

  it('0 leaves the user not loaded', async () => {
    await app.lock.ensureLoaded('m0', (ctx) => ctx.setLoadedTtl(0));
    expect(await app.status.isLoaded('m0')).toBe(false);
  });
});

describe('@WithUserLoadLock({ loadedTtlMs: (…args) => ms })', () => {
  @Injectable()
  class Profiles {
    runs: string[] = [];
    @WithUserLoadLock({
      loadedTtlMs: (_id: string, tier: string) => (tier === 'vip' ? 60_000 : 500),
    })
    load(id: string, tier: string): Promise<string | undefined> {
      this.runs.push(id);
      return Promise.resolve(`${id}:${tier}`);
    }
    @WithUserLoadLock({ loadedTtlMs: () => -5 })
    broken(id: string): Promise<string | undefined> {
      this.runs.push(id);
      return Promise.resolve(id);
    }
  }

  let app: TestApp;
  let profiles: Profiles;
  let redis: Redis;
  let keyPrefix: string;
  beforeAll(async () => {
    keyPrefix = uniquePrefix('adaptive-dec');
    redis = inspector();
    app = await startApp({ redis: redisUrl(), keyPrefix, nearCache: false }, [Profiles]);
    profiles = app.app.get(Profiles);
  });
  afterAll(async () => {
    await app.close();
    await redis.quit();
  });

  it('sets each call’s TTL from its arguments', async () => {
    await profiles.load('alice', 'vip');
    await profiles.load('bob', 'free');
    const [vip, free] = await Promise.all([
      redis.pttl(userKey(keyPrefix, 'alice', 'loaded', 'Profiles.load')),
      redis.pttl(userKey(keyPrefix, 'bob', 'loaded', 'Profiles.load')),
    ]);
    expect(vip).toBeGreaterThan(59_000);
    expect(free).toBeGreaterThan(0);
    expect(free).toBeLessThanOrEqual(500);
  });

  it('rejects a call whose function returns a bad TTL, without running the method', async () => {
    await expect(profiles.broken('carol')).rejects.toThrow(LoadStatusConfigError);
    await expect(profiles.broken('carol')).rejects.toThrow(/loadedTtlMs.*-5/);
    expect(profiles.runs).not.toContain('carol');
    expect(await redis.exists(userKey(keyPrefix, 'carol', 'lock', 'Profiles.broken'))).toBe(0);
  });
});
