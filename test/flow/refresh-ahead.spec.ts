/**
 * Refresh-ahead: a call that finds the user loaded with less than `refreshAheadMs` left is served
 * `already-loaded` at once, and exactly one caller in the cluster reloads in the background
 * under the lock; the flag's TTL then starts again. Two Nest apps on one real Redis stand for two
 * processes.
 */
import type { Redis } from 'ioredis';
import {
  LoadStatusConfigError,
  LoadStatusEvents,
  LoadStatusShutdownError,
  type LoadContext,
  type LoadStatusEvent,
  type LoadStatusModuleOptions,
} from '../../src';
import { deferred, startApp, type TestApp } from '../support/apps';
import { inspector, redisUrl, sleep, uniquePrefix, userKey } from '../support/env';

const TTL = 1_000;
const AHEAD = 400;

describe('refreshAheadMs on Redis (two apps)', () => {
  let a: TestApp;
  let b: TestApp;
  let redis: Redis;
  let keyPrefix: string;
  beforeAll(() => {
    redis = inspector();
  });
  afterAll(() => redis.quit());
  async function start(extra: Partial<LoadStatusModuleOptions> = {}): Promise<void> {
    keyPrefix = uniquePrefix('refresh');
    const options: LoadStatusModuleOptions = {
      redis: redisUrl(),
      keyPrefix,
      loadedTtlMs: TTL,
      refreshAheadMs: AHEAD,
      ...extra,
    };
    [a, b] = await Promise.all([startApp(options), startApp(options)]);
  }
  const subscriptions: Array<{ unsubscribe(): void }> = [];
  afterEach(async () => {
    for (const sub of subscriptions.splice(0)) sub.unsubscribe();
    await Promise.all([a?.close(), b?.close()]);
  });

  const flagLeft = () => redis.pttl(userKey(keyPrefix, 'u', 'loaded'));
  /** Resolves once the flag has less than `AHEAD` left. */
  async function untilInWindow(): Promise<void> {
    while ((await flagLeft()) >= AHEAD - 20) await sleep(10);
  }
  function eventsOf(app: TestApp): LoadStatusEvent[] {
    const events: LoadStatusEvent[] = [];
    subscriptions.push(app.app.get(LoadStatusEvents).events$.subscribe((e) => events.push(e)));
    return events;
  }

  it('serves the caller at once and reloads once in the background; the TTL starts again', async () => {
    await start({ nearCache: false });
    const [ea, eb] = [eventsOf(a), eventsOf(b)];
    const runs: string[] = [];
    const loader = (who: string) => async () => {
      runs.push(who);
      await sleep(100);
      return who;
    };
    const first = await a.lock.ensureLoaded('u', loader('a'));
    expect(first).toMatchObject({ status: 'loaded' });
    await untilInWindow();
    // Ten callers in each app, in the window: all served at once, one of them refreshes.
    const calls = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).lock.ensureLoaded('u', loader(i % 2 ? 'a' : 'b')),
      ),
    );
    expect(calls.map((c) => c.status)).toEqual(calls.map(() => 'already-loaded'));
    expect(runs).toHaveLength(2);
    await sleep(150); // the background load ends
    expect(await flagLeft()).toBeGreaterThan(TTL - 200);
    expect(runs).toHaveLength(2);
    // One refresh in the cluster: started and succeeded once, in the app that ran it.
    const refreshEvents = [...ea, ...eb]
      .filter((e) => e.type.startsWith('refresh'))
      .map(
        (e) => `${e.type}@${e.instanceId === a.app.get(LoadStatusEvents).instanceId ? 'a' : 'b'}`,
      );
    expect(refreshEvents).toEqual([`refresh-started@${runs[1]}`, `refreshed@${runs[1]}`]);
    // The refresh runs under its own lease: a newer fencing token, taken with the flag in the window.
    const started = [...ea, ...eb].find((e) => e.type === 'refresh-started');
    const firstToken = first.status === 'loaded' ? first.fencingToken! : 0;
    expect(started).toMatchObject({
      fencingToken: expect.any(Number),
      remainingMs: expect.any(Number),
    });
    const { fencingToken, remainingMs } = started as { fencingToken: number; remainingMs: number };
    expect(fencingToken).toBeGreaterThan(firstToken);
    expect(remainingMs).toBeGreaterThan(0);
    expect(remainingMs).toBeLessThanOrEqual(AHEAD);
  });

  it('a failed refresh emits refresh-failed and lets the flag run out; the next call loads as usual', async () => {
    await start({ nearCache: false });
    const events = eventsOf(a);
    await a.lock.ensureLoaded('u', () => 'v1');
    await untilInWindow();
    const before = await flagLeft();
    const failing = deferred();
    expect(
      await a.lock.ensureLoaded('u', async () => {
        await failing.promise;
        throw new Error('backend down');
      }),
    ).toEqual({ status: 'already-loaded' });
    failing.resolve();
    await sleep(20);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'refresh-failed', userId: 'u', error: expect.any(Error) }),
    );
    // The flag was left as it was (not renewed, not cleared), and the lock is free.
    expect(await flagLeft()).toBeLessThanOrEqual(before);
    expect(await redis.exists(userKey(keyPrefix, 'u', 'lock'))).toBe(0);
    await sleep(before + 20);
    expect(await b.lock.ensureLoaded('u', () => 'v2')).toMatchObject({
      status: 'loaded',
      value: 'v2',
    });
  });

  it('a near-cache hit in the window goes to Redis once, and not once per hit while a refresh runs', async () => {
    await start(); // near-caches on
    const release = deferred();
    let runs = 0;
    await a.lock.ensureLoaded('u', () => void runs++);
    expect(await b.status.isLoaded('u')).toBe(true); // cached in b
    await untilInWindow();
    const scripts = async () =>
      Number(/cmdstat_evalsha:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
    const before = await scripts();
    // b's first call in the window takes the refresh; its next 200 calls answer from the cache.
    for (let i = 0; i < 200; i++)
      expect(
        await b.lock.ensureLoaded('u', async () => {
          runs++;
          await release.promise;
        }),
      ).toEqual({ status: 'already-loaded' });
    expect((await scripts()) - before).toBe(1);
    expect(runs).toBe(2);
    release.resolve();
  });

  it('shutdown aborts a background refresh and gives its lock back', async () => {
    await start({ nearCache: false });
    await a.lock.ensureLoaded('u', () => 'v1');
    await untilInWindow();
    let signal: AbortSignal | undefined;
    const started = deferred();
    await a.lock.ensureLoaded('u', (ctx: LoadContext) => {
      signal = ctx.signal;
      started.resolve();
      return new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    });
    await started.promise;
    await a.close();
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toBeInstanceOf(LoadStatusShutdownError);
    expect(await redis.exists(userKey(keyPrefix, 'u', 'lock'))).toBe(0);
  });

  it('refuses refreshAheadMs not below loadedTtlMs, at boot and per call', async () => {
    await expect(
      startApp({
        redis: redisUrl(),
        keyPrefix: uniquePrefix('bad'),
        loadedTtlMs: 1_000,
        refreshAheadMs: 1_000,
      }),
    ).rejects.toThrow(LoadStatusConfigError);
    await start();
    await expect(
      a.lock.ensureLoaded('u', () => 'v', { loadedTtlMs: 500, refreshAheadMs: 600 }),
    ).rejects.toThrow(/refreshAheadMs.*less than loadedTtlMs \(500\)/);
    expect(await redis.exists(userKey(keyPrefix, 'u', 'loaded'))).toBe(0);
  });
});

describe('refreshAheadMs on the in-memory store', () => {
  it('serves at once and refreshes once', async () => {
    const app = await startApp({
      keyPrefix: uniquePrefix('refresh-mem'),
      loadedTtlMs: 300,
      refreshAheadMs: 200,
    });
    try {
      let runs = 0;
      await app.lock.ensureLoaded('m', () => void runs++);
      await sleep(150);
      const outcomes = await Promise.all(
        [1, 2, 3].map(() => app.lock.ensureLoaded('m', () => void runs++)),
      );
      expect(outcomes.map((o) => o.status)).toEqual([
        'already-loaded',
        'already-loaded',
        'already-loaded',
      ]);
      await sleep(10);
      expect(runs).toBe(2);
      await sleep(200); // past the first flag's end: still loaded, by the refresh
      expect(await app.status.isLoaded('m')).toBe(true);
    } finally {
      await app.close();
    }
  });
});
