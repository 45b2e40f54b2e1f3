import { config } from 'rxjs';
import { LoadStatusEvents, type LoadStatusEvent } from '../../src';
import { startApp, type TestApp } from '../support/apps';
import { inspector, redisUrl, sleep, uniquePrefix, userKey } from '../support/env';
import { RedisServer } from '../support/redis-server';

/** Collects events; `types()` lists them as "type" or "type:reason" for order assertions. */
function record(app: TestApp) {
  const events: LoadStatusEvent[] = [];
  const subscription = app.app.get(LoadStatusEvents).events$.subscribe((e) => events.push(e));
  return {
    events,
    types: (userId?: string) =>
      events
        .filter((e) => userId === undefined || e.userId === userId)
        .map((e) => (e.type === 'wait-ended' ? `wait-ended:${e.reason}` : e.type)),
    stop: () => subscription.unsubscribe(),
  };
}

/** Resolves once `condition` holds, checked every turn of the event loop (bounded by the test's timeout). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setImmediate(r));
}

describe('LoadStatusEvents', () => {
  let a: TestApp;
  let b: TestApp;
  let prefix: string;
  beforeEach(async () => {
    prefix = uniquePrefix('events');
    const options = { redis: redisUrl(), keyPrefix: prefix, pollIntervalMs: 60_000 };
    [a, b] = await Promise.all([startApp(options), startApp(options)]);
  });
  afterEach(() => Promise.all([a.close(), b.close()]));

  it('emits a load in order, each event with userId, time and instance id', async () => {
    const rec = record(a);
    const before = Date.now();
    await a.lock.ensureLoaded('u', () => sleep(10));
    expect(rec.types()).toEqual([
      'lock-acquired',
      'load-started',
      'lock-released',
      'load-succeeded',
    ]);
    for (const event of rec.events) {
      expect(event.userId).toBe('u');
      expect(event.at).toBeGreaterThanOrEqual(before);
      expect(event.instanceId).toBe(a.app.get(LoadStatusEvents).instanceId);
    }
    const succeeded = rec.events.at(-1);
    expect(succeeded?.type === 'load-succeeded' && succeeded.durationMs).toBeGreaterThanOrEqual(9);
    rec.stop();
  });

  it('names the load in every event of a named load, on the holder and on the waiter', async () => {
    const [holder, waiter] = [record(a), record(b)];
    let finish!: () => void;
    const held = a.lock.ensureLoaded('u', () => new Promise<void>((r) => (finish = r)), {
      name: 'servers',
    });
    await until(() => holder.types().includes('load-started'));
    const waited = b.lock.ensureLoaded('u', () => Promise.resolve(), { name: 'servers' });
    await until(() => waiter.types().includes('wait-started'));
    finish();
    await Promise.all([held, waited]);
    const named = [...holder.events, ...waiter.events];
    expect(named.map((e) => e.type)).toEqual(
      expect.arrayContaining(['lock-acquired', 'load-succeeded', 'wait-started', 'wait-ended']),
    );
    expect(named.filter((e) => e.load !== 'servers')).toEqual([]);
    holder.stop();
    waiter.stop();
  });

  it('emits a wait that ends because the user was loaded elsewhere', async () => {
    const rec = record(b);
    const loading = a.lock.ensureLoaded('w', () => sleep(100));
    await sleep(20);
    await b.lock.ensureLoaded('w', () => Promise.reject(new Error('must not run')));
    await loading;
    expect(rec.types()).toEqual(['wait-started', 'wait-ended:loaded-elsewhere']);
    const ended = rec.events[1];
    expect(ended.type === 'wait-ended' && ended.waitedMs).toBeGreaterThan(50);
  });

  it('emits a failure on the holder and a takeover on the waiter', async () => {
    const recA = record(a);
    const recB = record(b);
    const failing = a.lock.ensureLoaded('f', async () => {
      await sleep(60);
      throw new Error('boom');
    });
    await sleep(20);
    const taking = b.lock.ensureLoaded('f', () => Promise.resolve('mine'));
    await expect(failing).rejects.toThrow('boom');
    await taking;
    expect(recA.types()).toEqual(['lock-acquired', 'load-started', 'load-failed', 'lock-released']);
    const failed = recA.events[2];
    expect(failed.type === 'load-failed' && (failed.error as Error).message).toBe('boom');
    expect(recB.types()).toEqual([
      'wait-started',
      'wait-ended:woken',
      'takeover',
      'lock-acquired',
      'load-started',
      'lock-released',
      'load-succeeded',
    ]);
  });

  it('emits lease-lost once when the lease is taken away', async () => {
    const rec = record(a);
    const redis = inspector();
    try {
      const loading = a.lock.ensureLoaded('l', () => sleep(250), { lockTtlMs: 60 });
      await sleep(5);
      await redis.del(userKey(prefix, 'l', 'lock'));
      await loading;
    } finally {
      await redis.quit();
    }
    expect(rec.types().filter((t) => t === 'lease-lost')).toHaveLength(1);
    expect(rec.types().at(-2)).toBe('lock-released');
    const released = rec.events.at(-2);
    expect(released?.type === 'lock-released' && released.owned).toBe(false);
  });

  it('builds and emits no event while nobody subscribes, and completes the stream on shutdown', async () => {
    const events = a.app.get(LoadStatusEvents);
    expect(events.active).toBe(false);
    // The stream's subject is the only way out: while nobody listens, a whole load (lock,
    // load, finish, release) must not reach it at all.
    const subject = (events as unknown as { subject: { next(e: unknown): void } }).subject;
    const next = jest.spyOn(subject, 'next');
    await a.lock.ensureLoaded('quiet', () => Promise.resolve(1));
    const lock = await a.lock.acquireLoadLock('quiet-lock');
    await lock!.release();
    expect(next).not.toHaveBeenCalled();
    const seen: string[] = [];
    const subscription = events.events$.subscribe((e) => seen.push(e.type));
    await a.lock.ensureLoaded('heard', () => Promise.resolve(1));
    subscription.unsubscribe();
    expect(next).toHaveBeenCalled();
    expect(seen).toContain('load-succeeded');
    next.mockRestore();
    let completed = false;
    events.events$.subscribe({ complete: () => (completed = true) });
    await a.close();
    expect(completed).toBe(true);
  });

  it('keeps loading when a subscriber throws', async () => {
    const reported: unknown[] = [];
    const previous = config.onUnhandledError;
    config.onUnhandledError = (error) => reported.push(error);
    const subscription = a.app.get(LoadStatusEvents).events$.subscribe(() => {
      throw new Error('subscriber bug');
    });
    try {
      const outcome = await a.lock.ensureLoaded('t', () => Promise.resolve('fine'));
      expect(outcome).toMatchObject({ status: 'loaded', value: 'fine' });
      expect(await a.status.isLoaded('t')).toBe(true);
      await sleep(5); // rxjs reports subscriber errors on a timer
      expect(reported.length).toBeGreaterThan(0);
    } finally {
      subscription.unsubscribe();
      config.onUnhandledError = previous;
    }
  });
});

describe('LoadStatusEvents during a Redis outage', () => {
  it('emits store-error when Redis goes away and store-recovered when it answers again', async () => {
    const server = await RedisServer.start();
    const t = await startApp({
      redis: server.url,
      keyPrefix: uniquePrefix('outage'),
      commandTimeoutMs: 200,
    });
    const rec = record(t);
    try {
      await server.kill();
      await t.status.isLoaded('u');
      await server.restart();
      const deadline = Date.now() + 5_000;
      while (!rec.types().includes('store-recovered') && Date.now() < deadline) {
        await t.status.isLoaded('u');
        await sleep(20);
      }
      const types = rec.types();
      expect(types[0]).toBe('store-error');
      expect(types.at(-1)).toBe('store-recovered');
      const error = rec.events[0];
      expect(error.type === 'store-error' && error.operation).toBe('isLoaded');
    } finally {
      rec.stop();
      await t.close();
      await server.stop();
    }
  });
});
