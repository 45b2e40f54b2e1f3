/**
 * Step 4 of the flow, for the caller that won the lock (`src/locked-load.ts`): what its finish does
 * when Redis goes away under it, refuses it, or no longer holds its lock, and what it logs. Real
 * Redis servers owned by the spec, killed and restarted; apps in this process.
 */
import { Redis } from 'ioredis';
import {
  LoadStatusRejectedError,
  LoadStatusShutdownError,
  LoadStatusUnavailableError,
  type LoadStatusEvent,
  type LoadStatusModuleOptions,
} from '../../src';
import { deferred, startApp } from '../support/apps';
import { sleep, uniquePrefix, userKey } from '../support/env';
import { bootWithLogs, type LoggedApp } from '../support/logged-app';
import { RedisServer } from '../support/redis-server';
import { suiteRedis } from '../support/suite-redis';
import { recordEvents, whenEvent } from '../support/events';

/** Long enough that no lease extension runs during a test: only the finish can see a lost lock. */
const NO_KEEP_ALIVE = { lockTtlMs: 60_000 };

const started = (e: LoadStatusEvent) => e.type === 'load-started';
const finishFailed = (e: LoadStatusEvent) => e.type === 'store-error' && e.operation === 'finish';

const warnings = (app: LoggedApp) =>
  app.lines.filter((l) => l.level === 'warn').map((l) => l.message);

const afterCleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of afterCleanups.splice(0).reverse()) await cleanup();
});

describe('a finish while Redis is down (ride-out)', () => {
  let server: RedisServer;
  beforeEach(async () => {
    server = await RedisServer.start();
    afterCleanups.push(() => server.stop());
  });

  async function holder(options: LoadStatusModuleOptions): Promise<LoggedApp> {
    const app = await bootWithLogs({
      redis: server.url,
      commandTimeoutMs: 200,
      pollIntervalMs: 50,
      ...options,
    });
    afterCleanups.push(() => app.close());
    return app;
  }

  /** Starts a load on `app`, kills Redis under it, then lets the loader end. */
  async function finishDuringOutage(app: LoggedApp, user: string) {
    const release = deferred<string>();
    const loadStarted = whenEvent(app, started);
    const loading = app.lock.ensureLoaded(user, () => release.promise, NO_KEEP_ALIVE);
    await loadStarted;
    await server.kill();
    release.resolve('value');
    return loading;
  }

  it('retries the finish until Redis is back within outageGraceMs: the flag reaches Redis, nobody loads again', async () => {
    const prefix = uniquePrefix('ride');
    const app = await holder({ keyPrefix: prefix, outageGraceMs: 20_000 });
    const events = recordEvents(app);
    // Redis stays away for several poll intervals: the finish is retried, not given up.
    const retried = whenEvent(app, finishFailed, 3);
    const loading = finishDuringOutage(app, 'u');
    await retried;
    await server.restart(); // empty, as after a failover that lost the lock
    await expect(loading).resolves.toMatchObject({ status: 'loaded', value: 'value' });

    const inspect = new Redis(server.url);
    afterCleanups.push(() => inspect.quit());
    expect(await inspect.exists(userKey(prefix, 'u', 'loaded'))).toBe(1);
    const other = await startApp({ redis: server.url, keyPrefix: prefix });
    afterCleanups.push(() => other.close());
    const loader = jest.fn(() => Promise.resolve('again'));
    await expect(other.lock.ensureLoaded('u', loader)).resolves.toEqual({
      status: 'already-loaded',
    });
    expect(loader).not.toHaveBeenCalled();
    // The restart lost the lock: the finish says so, once.
    expect(events.filter((e) => e.type === 'lease-lost')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: 'load-succeeded', userId: 'u' });
  });

  it('fail-open: once outageGraceMs has passed, the flag is kept in-process and the call succeeds', async () => {
    const app = await holder({
      keyPrefix: uniquePrefix('grace-open'),
      outageGraceMs: 300,
      onStoreError: 'fail-open',
    });
    const events = recordEvents(app);
    const began = performance.now();
    await expect(finishDuringOutage(app, 'u')).resolves.toMatchObject({
      status: 'loaded',
      value: 'value',
    });
    // It rode the outage out (retried every pollIntervalMs) before the policy served it.
    expect(events.filter(finishFailed).length).toBeGreaterThan(2);
    expect(performance.now() - began).toBeGreaterThanOrEqual(300);
    expect(await app.status.isLoaded('u')).toBe(true);
  });

  it('fail-closed: once outageGraceMs has passed, the call fails with LoadStatusUnavailableError and says the lock waits out its lease', async () => {
    const app = await holder({
      keyPrefix: uniquePrefix('grace-closed'),
      outageGraceMs: 300,
      onStoreError: 'fail-closed',
    });
    const events = recordEvents(app);
    const error = await finishDuringOutage(app, 'u').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoadStatusUnavailableError);
    expect(error).toMatchObject({ operation: 'finish' });
    const failed = events.find((e) => e.type === 'load-failed');
    expect(failed).toMatchObject({ userId: 'u', error });
    expect(events.map((e) => e.type)).not.toContain('load-succeeded');
    expect(warnings(app)).toContainEqual(
      expect.stringMatching(
        /^could not release the lock for user "u": .*; it expires with its lease$/,
      ),
    );
  });

  it('stops riding out at shutdown: close() does not wait for outageGraceMs', async () => {
    const app = await holder({ keyPrefix: uniquePrefix('ride-close'), outageGraceMs: 60_000 });
    const ridingOut = whenEvent(app, finishFailed);
    const loading = finishDuringOutage(app, 'u');
    await ridingOut;
    const closing = performance.now();
    const [outcome] = await Promise.allSettled([loading, app.close()]);
    expect(performance.now() - closing).toBeLessThan(5_000);
    // fail-open (the default): the flag is kept in-process, as for any finish past its grace.
    expect(outcome).toMatchObject({ status: 'fulfilled', value: { status: 'loaded' } });
  });
});

describe('a finish Redis refuses (an ACL revoked mid-load)', () => {
  const ADMIN = 'admin-pass-7e21';
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await RedisServer.start({ args: () => ['--requirepass', ADMIN] });
    admin = new Redis({ port: server.port, password: ADMIN });
  });
  afterAll(async () => {
    await admin.quit();
    await server.stop();
  });

  it('gives the lock back at once, so a waiter elsewhere takes over without sitting out the lease', async () => {
    const prefix = uniquePrefix('refused');
    await admin.call(
      'ACL',
      'SETUSER',
      'app',
      'reset',
      'on',
      '>app-pass',
      `~${prefix}:*`,
      '&*',
      '+@all',
    );
    const app = await bootWithLogs({
      redis: `redis://app:app-pass@127.0.0.1:${server.port}`,
      keyPrefix: prefix,
    });
    afterCleanups.push(() => app.close());
    const other = await startApp({
      redis: `redis://:${ADMIN}@127.0.0.1:${server.port}`,
      keyPrefix: prefix,
      waitTimeoutMs: 10_000,
    });
    afterCleanups.push(() => other.close());
    const events = recordEvents(app);
    const release = deferred<string>();
    const loadStarted = whenEvent(app, started);
    const loading = app.lock.ensureLoaded('u', () => release.promise, NO_KEEP_ALIVE);
    await loadStarted;
    const waiting = other.lock.ensureLoaded('u', () => Promise.resolve('taken over'));
    // The finish writes the flag; the release only the lock and the waiting mark.
    const allButFlags = ['lock', 'fence', 'waiting'].map((k) => `~${prefix}:*:${k}`);
    await admin.call(
      'ACL',
      'SETUSER',
      'app',
      'resetkeys',
      ...allButFlags,
      `~${prefix}:*:generation`,
    );
    const takeover = performance.now();
    release.resolve('value');

    const error = await loading.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoadStatusRejectedError);
    expect(error).toMatchObject({ reason: 'NOPERM', operation: 'finish' });
    expect(events.find((e) => e.type === 'load-failed')).toMatchObject({ userId: 'u', error });
    await expect(waiting).resolves.toMatchObject({ status: 'loaded', value: 'taken over' });
    expect(performance.now() - takeover).toBeLessThan(NO_KEEP_ALIVE.lockTtlMs / 10);
  });
});

describe('a finish that no longer owns the lock, and the log of a load', () => {
  const redis = suiteRedis();
  let app: LoggedApp;
  let prefix: string;
  beforeEach(async () => {
    prefix = uniquePrefix('unowned');
    app = await bootWithLogs({ redis: redis.server.url, keyPrefix: prefix, refreshAheadMs: 1_000 });
    afterCleanups.push(() => app.close());
  });

  it('warns, emits lease-lost once and lock-released not owned, and keeps the flag of the load that took over', async () => {
    const events = recordEvents(app);
    const release = deferred<string>();
    const loadStarted = whenEvent(app, started);
    const loading = app.lock.ensureLoaded('u', () => release.promise, NO_KEEP_ALIVE);
    await loadStarted;
    const fencingToken = (events[0] as { fencingToken: number }).fencingToken;
    // Another holder took the lock over and finished first with a 30 s flag.
    await redis.inspect.set(userKey(prefix, 'u', 'lock'), 'someone-else', 'PX', 60_000);
    await redis.inspect.set(userKey(prefix, 'u', 'loaded'), '1', 'PX', 30_000);
    release.resolve('late');
    await expect(loading).resolves.toMatchObject({ status: 'loaded', value: 'late' });

    expect(warnings(app)).toEqual([
      `lease for user "u" was lost before the load finished (fencing token ${fencingToken})`,
    ]);
    expect(events.map((e) => e.type)).toEqual([
      'lock-acquired',
      'load-started',
      'lease-lost',
      'lock-released',
      'load-succeeded',
    ]);
    expect(events[3]).toMatchObject({ owned: false, fencingToken });
    expect(await redis.inspect.get(userKey(prefix, 'u', 'lock'))).toBe('someone-else');
    expect(await redis.inspect.pttl(userKey(prefix, 'u', 'loaded'))).toBeGreaterThan(25_000);
    expect(app.lines).toContainEqual(
      expect.objectContaining({
        level: 'debug',
        message: `loading user "u" (fencing token ${fencingToken})`,
      }),
    );
  });

  it('warns once, and only for a TTL not above refreshAheadMs', async () => {
    const loadWithTtl = (user: string, ttlMs: number) =>
      app.lock.ensureLoaded(user, (ctx) => {
        ctx.setLoadedTtl(ttlMs);
        return Promise.resolve();
      });
    await loadWithTtl('deleted', 0); // no flag at all: nothing to refresh
    await loadWithTtl('above', 1_001);
    expect(warnings(app)).toEqual([]);
    await loadWithTtl('equal', 1_000);
    await loadWithTtl('below', 10);
    expect(warnings(app)).toEqual([
      'a load set a flag TTL of 1000 ms, not above refreshAheadMs (1000 ms): every call will refresh such a user in the background; keep TTLs above refreshAheadMs',
    ]);
    // Once per registration, not per process: another app in this process warns for its own.
    const other = await bootWithLogs({
      redis: redis.server.url,
      keyPrefix: `${prefix}-other`,
      refreshAheadMs: 500,
    });
    try {
      await other.lock.ensureLoaded('u', (ctx) => {
        ctx.setLoadedTtl(500);
        return Promise.resolve();
      });
      expect(warnings(other)).toEqual([
        'a load set a flag TTL of 500 ms, not above refreshAheadMs (500 ms): every call will refresh such a user in the background; keep TTLs above refreshAheadMs',
      ]);
    } finally {
      await other.close();
    }
  });

  it('a loader that ends after shutdown released its lock fails with LoadStatusShutdownError', async () => {
    const release = deferred<string>();
    const loadStarted = whenEvent(app, started);
    const loading = app.lock.ensureLoaded('u', () => release.promise, NO_KEEP_ALIVE);
    await loadStarted;
    await app.close();
    release.resolve('too late');
    await expect(loading).rejects.toBeInstanceOf(LoadStatusShutdownError);
    expect(await redis.inspect.exists(userKey(prefix, 'u', 'lock'))).toBe(0);
    expect(await redis.inspect.exists(userKey(prefix, 'u', 'loaded'))).toBe(0);
  });
});

describe('the lease kept alive during a load', () => {
  const redis = suiteRedis();
  let app: LoggedApp;
  beforeEach(async () => {
    app = await bootWithLogs({
      redis: redis.server.url,
      keyPrefix: uniquePrefix('keep-alive'),
      commandTimeoutMs: 100,
    });
    afterCleanups.push(() => app.close());
  });

  it('is extended every third of the lease while the loader runs, and no more once it ends', async () => {
    const events = recordEvents(app);
    const began = performance.now();
    const outcome = await app.lock.ensureLoaded('u', () => sleep(200), { lockTtlMs: 90 });
    const tookMs = performance.now() - began;
    const extensions = () => events.filter((e) => e.type === 'lease-extended').length;
    expect(extensions()).toBeGreaterThanOrEqual(4); // 200 ms at one per 30 ms
    const afterLoad = extensions();
    // Six more intervals: a keep-alive left running would extend (and lose) the released lease.
    await sleep(180);
    expect(extensions()).toBe(afterLoad);
    expect(events.map((e) => e.type)).not.toContain('lease-lost');
    expect(events.at(-1)).toMatchObject({ type: 'load-succeeded' });
    // The durations are measured from the loader's start, not made up.
    const succeeded = events.at(-1) as { durationMs: number };
    expect(succeeded.durationMs).toBeGreaterThanOrEqual(199);
    expect(succeeded.durationMs).toBeLessThanOrEqual(Math.ceil(tookMs));
    expect(outcome).toMatchObject({ status: 'loaded', durationMs: succeeded.durationMs });
  });

  it('logs an extension that Redis could not answer, and keeps the loader going', async () => {
    const release = deferred();
    const loadStarted = whenEvent(app, started);
    const loading = app.lock.ensureLoaded('u', () => release.promise, { lockTtlMs: 1_500 });
    await loadStarted;
    const timedOut = whenEvent(app, (e) => e.type === 'store-error' && e.operation === 'extend');
    // The extension due at 500 ms finds the server asleep until ~700 ms: it times out at 100 ms.
    await redis.inspect.call('DEBUG', 'SLEEP', '0.7');
    await timedOut;
    release.resolve();
    await expect(loading).resolves.toMatchObject({ status: 'loaded' });
    expect(warnings(app)).toContainEqual(
      expect.stringMatching(/^could not extend the lease for user "u": .+/),
    );
  });
});
