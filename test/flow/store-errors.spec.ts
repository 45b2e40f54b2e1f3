import { LoadStatusUnavailableError, LoadWaitTimeoutError } from '../../src';
import { recordEvents } from '../support/events';
import { deferred, startApp, type TestApp } from '../support/apps';
import { inspector, redisUrl, sleep, uniquePrefix, userKey } from '../support/env';
import { RedisServer } from '../support/redis-server';

describe('store errors (Redis down)', () => {
  let redis: RedisServer;
  let t: TestApp | undefined;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.stop());
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await redis.restart().catch(() => undefined);
  });

  it('fail-closed: calls reject fast with LoadStatusUnavailableError', async () => {
    t = await startApp({
      redis: redis.url,
      keyPrefix: uniquePrefix('closed'),
      onStoreError: 'fail-closed',
      commandTimeoutMs: 200,
    });
    await redis.kill();
    const loader = jest.fn(() => Promise.resolve());
    const started = performance.now();
    await expect(t.lock.ensureLoaded('u', loader)).rejects.toThrow(LoadStatusUnavailableError);
    await expect(t.status.isLoaded('u')).rejects.toThrow(
      /Load status store unavailable during isLoaded/,
    );
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(loader).not.toHaveBeenCalled();
  });

  it('fail-open: loads once per process while Redis is down, and uses Redis again once it is back', async () => {
    const prefix = uniquePrefix('open');
    t = await startApp({
      redis: redis.url,
      keyPrefix: prefix,
      onStoreError: 'fail-open',
      commandTimeoutMs: 200,
    });
    await redis.kill();
    let runs = 0;
    const loader = () => Promise.resolve(++runs);
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () => t!.lock.ensureLoaded('u', loader)),
    );
    expect(runs).toBe(1);
    expect(outcomes.every((o) => o.status === 'loaded')).toBe(true);
    // Not just single-flight: later calls during the outage find the flag the fallback kept.
    expect(await t.lock.ensureLoaded('u', loader)).toEqual({ status: 'already-loaded' });
    expect(await t.status.isLoaded('u')).toBe(true);
    expect(runs).toBe(1);
    await redis.restart();
    // Recovery is automatic: once the client has reconnected, flags land in Redis again.
    const inspect = inspector(redis.url);
    try {
      let attempt = 0;
      await waitFor(async () => {
        const user = `v${++attempt}`;
        await t!.lock.ensureLoaded(user, loader);
        return (await inspect.exists(userKey(prefix, user, 'loaded'))) === 1;
      });
    } finally {
      await inspect.quit();
    }
  });
});

describe('a Redis stall while a loader runs (fail-open)', () => {
  it('keeps the loader going: the lease is not declared lost while Redis cannot answer', async () => {
    const server = await RedisServer.start();
    const prefix = uniquePrefix('stall');
    const t = await startApp({
      redis: server.url,
      keyPrefix: prefix,
      lockTtlMs: 1_000,
      commandTimeoutMs: 100,
    });
    const inspect = inspector(server.url);
    try {
      let signal: AbortSignal | undefined;
      const loading = t.lock.ensureLoaded('stalled', async (ctx) => {
        signal = ctx.signal;
        await sleep(1_000);
        return 'done';
      });
      await sleep(100);
      // The server stalls from ~100 ms to ~600 ms: the extension due at ~333 ms times out.
      await inspect.call('DEBUG', 'SLEEP', '0.5');
      expect(await loading).toMatchObject({ status: 'loaded', value: 'done' });
      expect(signal?.aborted).toBe(false);
      expect(await inspect.exists(userKey(prefix, 'stalled', 'loaded'))).toBe(1);
    } finally {
      await inspect.quit();
      await t.close();
      await server.stop();
    }
  });
});

describe('a lock the fail-open fallback issued, once Redis is back', () => {
  it('stays the fallback lock: the loader keeps its lease and the flag reaches Redis', async () => {
    const server = await RedisServer.start();
    const prefix = uniquePrefix('back');
    const t = await startApp({
      redis: server.url,
      keyPrefix: prefix,
      lockTtlMs: 300,
      commandTimeoutMs: 200,
    });
    try {
      await server.kill();
      let signal: AbortSignal | undefined;
      const loading = t.lock.ensureLoaded('during-outage', async (ctx) => {
        signal = ctx.signal;
        await sleep(900); // three lease extensions, the later ones after Redis is back
        return 'done';
      });
      await sleep(150);
      await server.restart();
      expect(await loading).toMatchObject({ status: 'loaded', value: 'done' });
      expect(signal?.aborted).toBe(false);
      const inspect = inspector(server.url);
      try {
        expect(await inspect.exists(userKey(prefix, 'during-outage', 'loaded'))).toBe(1);
      } finally {
        await inspect.quit();
      }
    } finally {
      await t.close();
      await server.stop();
    }
  });
});

describe('notifications after the subscriber reconnects', () => {
  it('re-checks waiters after resubscribing, so a completion announced while disconnected is not missed', async () => {
    const prefix = uniquePrefix('resub');
    // Lease and poll far away: only the re-check after resubscribing can end this wait quickly.
    const options = {
      redis: redisUrl(),
      keyPrefix: prefix,
      pollIntervalMs: 60_000,
      lockTtlMs: 20_000,
    };
    const a = await startApp(options);
    const b = await startApp(options);
    const inspect = inspector();
    try {
      const held = await a.lock.acquireLoadLock('quiet', 20_000);
      expect(held).not.toBeNull();
      const waiting = b.lock.ensureLoaded('quiet', () => Promise.reject(new Error('must not run')));
      await sleep(30);
      // Complete the load without any notification, as if the message had been lost...
      await inspect.set(userKey(prefix, 'quiet', 'loaded'), '1', 'PX', 60_000);
      await inspect.del(userKey(prefix, 'quiet', 'lock'));
      // ...then drop every subscriber connection; ioredis reconnects them.
      const started = performance.now();
      await inspect.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      expect(await waiting).toMatchObject({ status: 'loaded-elsewhere' });
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      await inspect.quit();
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('starting while Redis is down', () => {
  it('boots with fail-open, coordinates in-process, and moves to Redis once it is up', async () => {
    const server = await RedisServer.start();
    await server.kill();
    const prefix = uniquePrefix('late');
    const t = await startApp({ redis: server.url, keyPrefix: prefix, commandTimeoutMs: 200 });
    try {
      let runs = 0;
      await Promise.all(
        Array.from({ length: 10 }, () =>
          t.lock.ensureLoaded('early', () => Promise.resolve(++runs)),
        ),
      );
      expect(runs).toBe(1);
      await server.restart();
      const inspect = inspector(server.url);
      try {
        let attempt = 0;
        await waitFor(async () => {
          const user = `late${++attempt}`;
          await t.lock.ensureLoaded(user, () => Promise.resolve());
          return (await inspect.exists(userKey(prefix, user, 'loaded'))) === 1;
        });
      } finally {
        await inspect.quit();
      }
    } finally {
      await t.close();
      await server.stop();
    }
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a waiter riding out an outage when its wait budget runs out', () => {
  it('ends with LoadWaitTimeoutError at its budget, not after spinning through outageGraceMs', async () => {
    const server = await RedisServer.start();
    const options = {
      redis: server.url,
      keyPrefix: uniquePrefix('ride-out-budget'),
      waitTimeoutMs: 400,
    };
    const [holder, waiterApp] = await Promise.all([startApp(options), startApp(options)]);
    const release = deferred();
    try {
      const holding = holder.lock.ensureLoaded('u', () => release.promise);
      await sleep(50);
      const started = performance.now();
      const events = recordEvents(waiterApp);
      const waiting = waiterApp.lock.ensureLoaded('u', () => 'must not run');
      await sleep(100); // it waits on the holder's lease
      await server.kill(); // it now rides the outage out (outageGraceMs 5 s by default)
      // Timers still fire while it rides out: the event loop is not starved.
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 20);
      await expect(waiting).rejects.toBeInstanceOf(LoadWaitTimeoutError);
      clearInterval(ticker);
      expect(performance.now() - started).toBeLessThan(1_500);
      expect(ticks).toBeGreaterThan(3);
      // One wait, ended once, by its timeout.
      expect(events.filter((e) => e.type.startsWith('wait-'))).toEqual([
        expect.objectContaining({ type: 'wait-started' }),
        expect.objectContaining({ type: 'wait-ended', reason: 'timeout' }),
      ]);
      release.resolve();
      await holding.catch(() => undefined);
    } finally {
      release.resolve();
      await Promise.all([holder.close(), waiterApp.close()]);
      await server.stop();
    }
  });
});
