import {
  InvalidUserIdError,
  LoadLeaseLostError,
  LoadStatusConfigError,
  LoadStatusEvents,
  LoadStatusShutdownError,
  LoadWaitTimeoutError,
  type LoadContext,
  type LoadStatusModuleOptions,
} from '../../src';
import { deferred, startApp, type TestApp } from '../support/apps';
import { bootWithLogs } from '../support/logged-app';
import { recordEvents } from '../support/events';
import { IN_FLIGHT } from '../../src/internal';
import { LoadStatusCore } from '../../src/load-status.core';
import { inspector, redisUrl, sleep, uniquePrefix, userKey } from '../support/env';

const stores: Array<[string, () => LoadStatusModuleOptions]> = [
  ['memory', () => ({})],
  ['redis', () => ({ redis: redisUrl(), keyPrefix: uniquePrefix('flow') })],
];

/** Loaders running without the lock that shutdown would abort (internal count). */
const unlockedLoaders = (t: TestApp) => t.lock[IN_FLIGHT]().unlocked;

describe.each(stores)('ensureLoaded on the %s store', (_name, options) => {
  let a: TestApp;
  afterEach(() => a.close());

  it('runs the loader once for 200 concurrent callers in one process', async () => {
    a = await startApp(options());
    let runs = 0;
    const loader = async () => {
      runs++;
      await sleep(50);
      return 'data';
    };
    const outcomes = await Promise.all(
      Array.from({ length: 200 }, () => a.lock.ensureLoaded('cold-user', loader)),
    );
    expect(runs).toBe(1);
    expect(outcomes.filter((o) => o.status === 'loaded' && !o.shared)).toHaveLength(1);
    expect(outcomes.every((o) => o.status === 'loaded' && o.value === 'data')).toBe(true);
    expect(await a.status.isLoaded('cold-user')).toBe(true);
    expect(await a.lock.ensureLoaded('cold-user', loader)).toEqual({ status: 'already-loaded' });
    expect(runs).toBe(1);
  });

  it('gives a loader error to its callers, frees the lock at once, leaves the flag unset, and loads on the next call', async () => {
    a = await startApp(options());
    const boom = new Error('database down');
    const failing = Promise.all(
      Array.from({ length: 10 }, () =>
        a.lock.ensureLoaded('u', async () => {
          await sleep(20);
          throw boom;
        }),
      ).map((p) => p.catch((e: unknown) => e)),
    );
    expect(await failing).toEqual(Array.from({ length: 10 }, () => boom));
    const lock = await a.lock.acquireLoadLock('u');
    expect(lock).not.toBeNull();
    await lock!.release();
    expect(await a.status.isLoaded('u')).toBe(false);
    const next = await a.lock.ensureLoaded('u', () => Promise.resolve('second try'));
    expect(next).toMatchObject({ status: 'loaded', value: 'second try', shared: false });
  });

  it('hands the loader a context with the user id, a fencing token and a live signal', async () => {
    a = await startApp(options());
    let seen: LoadContext | undefined;
    await a.lock.ensureLoaded(42 as unknown as string, (ctx) => {
      seen = ctx;
      return Promise.resolve();
    });
    expect(seen?.userId).toBe('42');
    expect(seen?.fencingToken).toBeGreaterThan(0);
    expect(seen?.signal.aborted).toBe(false);
  });

  it('waits for a lock held elsewhere and takes over once its lease runs out', async () => {
    a = await startApp(options());
    const orphan = await a.lock.acquireLoadLock('orphaned', 300); // a holder that died: never released
    expect(orphan).not.toBeNull();
    const started = performance.now();
    let loaderStartedAt = 0;
    const outcome = await a.lock.ensureLoaded('orphaned', () => {
      loaderStartedAt = performance.now() - started;
      return Promise.resolve('taken over');
    });
    expect(outcome).toMatchObject({ status: 'loaded', value: 'taken over' });
    expect(loaderStartedAt).toBeGreaterThanOrEqual(280);
    expect(loaderStartedAt).toBeLessThan(300 + 250);
  });

  it('throws LoadWaitTimeoutError after waitTimeoutMs and never runs the loader', async () => {
    a = await startApp(options());
    await a.lock.acquireLoadLock('busy', 10_000);
    const loader = jest.fn(() => Promise.resolve());
    const events = recordEvents(a);
    const started = performance.now();
    await expect(a.lock.ensureLoaded('busy', loader, { waitTimeoutMs: 150 })).rejects.toThrow(
      LoadWaitTimeoutError,
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
    expect(loader).not.toHaveBeenCalled();
    // One wait, ended once, by its timeout.
    expect(events.filter((e) => e.type.startsWith('wait-'))).toEqual([
      expect.objectContaining({ type: 'wait-started', userId: 'busy' }),
      expect.objectContaining({ type: 'wait-ended', userId: 'busy', reason: 'timeout' }),
    ]);
    // Its watch on the user's notices is gone.
    expect(a.app.get(LoadStatusCore).waiters.size).toBe(0);
  });

  it("runs the loader without the lock after the wait with onWaitTimeout: 'run'", async () => {
    const logged = await bootWithLogs(options());
    a = logged;
    await a.lock.acquireLoadLock('busy', 10_000);
    const events = recordEvents(a);
    const outcome = await a.lock.ensureLoaded('busy', (ctx) => Promise.resolve(ctx.fencingToken), {
      waitTimeoutMs: 100,
      onWaitTimeout: 'run',
    });
    expect(outcome).toEqual({
      status: 'loaded',
      value: undefined,
      fencingToken: undefined,
      shared: false,
      durationMs: expect.any(Number),
    });
    expect(await a.status.isLoaded('busy')).toBe(true);
    expect(unlockedLoaders(a)).toBe(0); // shutdown no longer tracks it
    expect(events.filter((e) => e.type.startsWith('load-'))).toEqual([
      expect.objectContaining({ type: 'load-started', userId: 'busy', fencingToken: undefined }),
      expect.objectContaining({ type: 'load-succeeded', userId: 'busy', fencingToken: undefined }),
    ]);
    expect(logged.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: expect.stringMatching(
          /^waited \d+ ms for user "busy"; running the loader without the lock \(onWaitTimeout: 'run'\)$/,
        ),
      }),
    );
  });

  it("with onWaitTimeout: 'run', gives a loader's error to the caller, and keeps nothing for a TTL of 0", async () => {
    const logged = await bootWithLogs(options());
    a = logged;
    await a.lock.acquireLoadLock('busy', 10_000);
    const run = { waitTimeoutMs: 100, onWaitTimeout: 'run' } as const;
    const events = recordEvents(a);
    const boom = new Error('boom');
    await expect(a.lock.ensureLoaded('busy', () => Promise.reject(boom), run)).rejects.toBe(boom);
    expect(events.filter((e) => e.type === 'load-failed')).toEqual([
      expect.objectContaining({ userId: 'busy', fencingToken: undefined, error: boom }),
    ]);
    expect(await a.status.isLoaded('busy')).toBe(false);
    expect(unlockedLoaders(a)).toBe(0);
    await expect(
      a.lock.ensureLoaded('busy', (ctx) => ctx.setLoadedTtl(0), run),
    ).resolves.toMatchObject({ status: 'loaded' });
    expect(await a.status.isLoaded('busy')).toBe(false);
    // Nothing was written for it: no store command failed on a TTL of 0.
    expect(logged.lines.filter((l) => /store error/.test(l.message))).toEqual([]);
  });

  it('bounds a caller that joined a flight in this process by its own waitTimeoutMs', async () => {
    a = await startApp(options());
    const gate = deferred();
    const first = a.lock.ensureLoaded('slow-join', async () => {
      await gate.promise;
      return 'first';
    });
    const started = performance.now();
    await expect(
      a.lock.ensureLoaded('slow-join', () => Promise.resolve('never'), { waitTimeoutMs: 100 }),
    ).rejects.toThrow(LoadWaitTimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    const running = await a.lock.ensureLoaded(
      'slow-join',
      (ctx) => Promise.resolve(ctx.fencingToken),
      {
        waitTimeoutMs: 50,
        onWaitTimeout: 'run',
      },
    );
    expect(running).toMatchObject({ status: 'loaded', fencingToken: undefined });
    gate.resolve();
    expect(await first).toMatchObject({ status: 'loaded', value: 'first', shared: false });
  });

  it('keeps the lease alive while a loader outlives lockTtlMs', async () => {
    a = await startApp(options());
    let runs = 0;
    const slow = async () => {
      runs++;
      await sleep(400);
    };
    const first = a.lock.ensureLoaded('slow', slow, { lockTtlMs: 90 });
    await sleep(200); // more than two leases later, the lock must still be held
    expect(await a.lock.acquireLoadLock('slow')).toBeNull();
    await first;
    expect(runs).toBe(1);
  });

  it('rejects bad input with typed errors before touching the store', async () => {
    a = await startApp(options());
    const loader = jest.fn(() => Promise.resolve());
    for (const bad of [
      '',
      '   ',
      'x'.repeat(1025),
      NaN,
      Infinity,
      {},
      [],
      null,
      undefined,
      '\ud800',
    ]) {
      await expect(a.lock.ensureLoaded(bad as string, loader)).rejects.toThrow(InvalidUserIdError);
    }
    await expect(a.lock.ensureLoaded('u', 'not a function' as never)).rejects.toThrow(
      LoadStatusConfigError,
    );
    await expect(a.lock.ensureLoaded('u', loader, { lockTtlMs: -5 })).rejects.toThrow(
      /"lockTtlMs"/,
    );
    await expect(a.lock.acquireLoadLock('u', 0)).rejects.toThrow(/"ttlMs"/);
    await expect(a.status.setLoaded('u', 2 ** 31)).rejects.toThrow(/"ttlMs"/);
    expect(loader).not.toHaveBeenCalled();
    expect(await a.status.isLoaded('u')).toBe(false);
  });

  it('accepts ids with braces, colons, newlines and unicode as distinct users', async () => {
    a = await startApp(options());
    const ids = ['a{b}', 'a:b', 'a\nb', 'ユーザー', '{', '}', '%7B', 'a', 'a '];
    for (const id of ids) await a.status.setLoaded(id);
    for (const id of ids) expect(await a.status.isLoaded(id)).toBe(true);
    expect(await a.status.isLoaded('ab')).toBe(false);
  });

  it('settles pending waiters with LoadStatusShutdownError and releases held locks on close', async () => {
    a = await startApp(options());
    const gate = deferred();
    const loading = a.lock.ensureLoaded('shutting', async (ctx) => {
      await gate.promise;
      return ctx.signal.aborted;
    });
    await sleep(20);
    const held = await a.lock.acquireLoadLock('other-user', 60_000);
    expect(held).not.toBeNull();
    const waiting = a.status.waitForLoad('shutting', { timeoutMs: 60_000 });
    const closing = a.close();
    await expect(waiting).rejects.toThrow(LoadStatusShutdownError);
    gate.resolve();
    await expect(loading).rejects.toThrow(LoadStatusShutdownError);
    await closing;
    await expect(a.lock.ensureLoaded('late', () => Promise.resolve())).rejects.toThrow(
      LoadStatusShutdownError,
    );
  });
});

describe('ensureLoaded across two connections to one Redis', () => {
  let a: TestApp;
  let b: TestApp;
  let prefix: string;
  beforeEach(async () => {
    prefix = uniquePrefix('pair');
    // A huge poll interval proves that waiters are woken by notifications, not by polling.
    const options: LoadStatusModuleOptions = {
      redis: redisUrl(),
      keyPrefix: prefix,
      pollIntervalMs: 60_000,
    };
    [a, b] = await Promise.all([startApp(options), startApp(options)]);
  });
  afterEach(() => Promise.all([a.close(), b.close()]));

  it('runs the loader once for callers on both connections', async () => {
    let runs = 0;
    const loader = async () => {
      runs++;
      await sleep(100);
    };
    const outcomes = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        (i % 2 ? a : b).lock.ensureLoaded('shared-user', loader),
      ),
    );
    expect(runs).toBe(1);
    expect(outcomes.filter((o) => o.status === 'loaded-elsewhere').length).toBe(50);
  });

  it('wakes a waiter within milliseconds of the holder finishing', async () => {
    const gate = deferred();
    const holder = a.lock.ensureLoaded('wake', () => gate.promise);
    await sleep(30);
    const waiting = b.lock.ensureLoaded('wake', () => Promise.reject(new Error('must not run')));
    await sleep(50);
    const finishedAt = performance.now();
    gate.resolve();
    await holder;
    const outcome = await waiting;
    const lag = performance.now() - finishedAt;
    expect(outcome.status).toBe('loaded-elsewhere');
    expect(lag).toBeLessThan(50);
  });

  it('lets a waiter take over at once when the holder fails', async () => {
    const gate = deferred();
    const holder = a.lock.ensureLoaded('flaky', async () => {
      await gate.promise;
      throw new Error('holder failed');
    });
    await sleep(30);
    let takeoverAt = 0;
    const waiting = b.lock.ensureLoaded('flaky', () => {
      takeoverAt = performance.now();
      return Promise.resolve('second');
    });
    await sleep(50);
    const failedAt = performance.now();
    gate.resolve();
    await expect(holder).rejects.toThrow('holder failed');
    expect(await waiting).toMatchObject({ status: 'loaded', value: 'second' });
    expect(takeoverAt - failedAt).toBeLessThan(50);
  });

  it('aborts ctx.signal when the lease is lost, and the late finish leaves the new owner its lock', async () => {
    const redis = inspector();
    try {
      let signal: AbortSignal | undefined;
      const loading = a.lock.ensureLoaded(
        'stolen',
        async (ctx) => {
          signal = ctx.signal;
          await sleep(300);
        },
        { lockTtlMs: 60 },
      );
      await sleep(10);
      await redis.del(userKey(prefix, 'stolen', 'lock'));
      const thief = await b.lock.acquireLoadLock('stolen', 60_000);
      expect(thief).not.toBeNull();
      await loading;
      expect(signal?.aborted).toBe(true);
      expect(signal?.reason).toBeInstanceOf(LoadLeaseLostError);
      expect(await redis.get(userKey(prefix, 'stolen', 'lock'))).toBe(thief!.token);
      expect(await thief!.release()).toBe(true);
    } finally {
      await redis.quit();
    }
  });

  it('gives back a lock won by an acquire that was in flight when shutdown began', async () => {
    const redis = inspector();
    try {
      const loader = jest.fn(() => Promise.resolve());
      const loading = a.lock.ensureLoaded('racing', loader);
      const manual = a.lock.acquireLoadLock('racing-manual', 60_000);
      const settled = Promise.all([
        expect(loading).rejects.toThrow(LoadStatusShutdownError),
        expect(manual).rejects.toThrow(LoadStatusShutdownError),
      ]);
      await a.close(); // starts while both acquires are on the wire
      await settled;
      expect(loader).not.toHaveBeenCalled();
      expect(
        await redis.exists(
          userKey(prefix, 'racing', 'lock'),
          userKey(prefix, 'racing-manual', 'lock'),
        ),
      ).toBe(0);
    } finally {
      await redis.quit();
    }
  });

  it('releases a held lock on close so the other process acquires at once', async () => {
    const held = await a.lock.acquireLoadLock('handover', 60_000);
    expect(held).not.toBeNull();
    expect(await b.lock.acquireLoadLock('handover')).toBeNull();
    await a.close();
    expect(await b.lock.acquireLoadLock('handover')).not.toBeNull();
  });
});

describe('a grant whose reply arrives after its lease ran out', () => {
  /** Blocks this process's event loop, as a long GC pause or a stalled host would. */
  const stall = (ms: number) => {
    const until = performance.now() + ms;
    while (performance.now() < until);
  };

  it('is never used: acquireLoadLock resolves null, ensureLoaded asks again before loading', async () => {
    const keyPrefix = uniquePrefix('late-grant');
    // With the near-cache, a call's first command is the acquire (else a flag read comes first,
    // and the stall would be over before the acquire is sent).
    const app = await bootWithLogs({
      redis: redisUrl(),
      keyPrefix,
      lockTtlMs: 100,
      nearCache: true,
    });
    const inspect = inspector();
    try {
      const late = app.lock.acquireLoadLock('late');
      stall(150); // the grant is on its way back; the lease ends before we read it
      expect(await late).toBeNull();

      const fencing: number[] = [];
      const sub = app.app.get(LoadStatusEvents).events$.subscribe((e) => {
        if (e.type === 'lock-acquired') fencing.push(e.fencingToken);
      });
      const lockLeft: number[] = [];
      const callStarted = performance.now();
      const call = app.lock.ensureLoaded('late-load', async () => {
        lockLeft.push(await inspect.pttl(userKey(keyPrefix, 'late-load', 'lock')));
      });
      stall(150);
      await expect(call).resolves.toMatchObject({ status: 'loaded' });
      const callMs = performance.now() - callStarted;
      sub.unsubscribe();
      // The unused grant is logged with its true age: past the lease, within the call's time.
      const warned = app.lines
        .filter((l) => l.level === 'warn')
        .map((l) =>
          /^the lock of user "late-load" was granted (\d+) ms ago, past its 100 ms lease; not used$/.exec(
            l.message,
          ),
        )
        .filter((m) => m !== null);
      expect(warned).toHaveLength(1);
      const agoMs = Number(warned[0][1]);
      expect(agoMs).toBeGreaterThanOrEqual(100);
      expect(agoMs).toBeLessThanOrEqual(Math.ceil(callMs));
      // The loader ran once, under a lock that was live in Redis: the second grant's.
      expect(lockLeft).toHaveLength(1);
      expect(lockLeft[0]).toBeGreaterThan(0);
      expect(fencing).toHaveLength(1);
    } finally {
      await inspect.quit();
      await app.close();
    }
  });
});
