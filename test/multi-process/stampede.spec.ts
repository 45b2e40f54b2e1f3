/**
 * The cluster guarantees, tested with real processes: every worker is a separate Node process
 * with its own Nest application context and its own Redis connections, sharing one Redis.
 * Time bounds are generous (2-core CI) but far below the fallbacks they rule out: a caller that
 * is done within 1 s while the lease is 3 s was woken by a notification, not by the lease.
 * Failure handovers with the tight bounds have their own specs: loader-error-handover,
 * shutdown-handover, holder-crash-takeover, redis-outage-no-hang, chaos.
 */
import { WORKER_LOAD } from '../fixtures/load-worker.protocol';
import { sleep, uniquePrefix } from '../support/env';
import { CLIENT_FLAVOURS } from '../support/redis-clients';
import {
  callersOf,
  failures,
  loaderRunsInRedis,
  loadsOf,
  now,
  userKey,
  workerPool,
  suiteInspector,
} from './harness';

/** Cross-process clock skew we tolerate when ordering timestamps of different processes. */
const SKEW_MS = 5;

describe.each(CLIENT_FLAVOURS)('load-once across processes (Redis, %s)', (client) => {
  const pool = workerPool();
  const redis = suiteInspector();

  it('runs the loader once for 200 concurrent callers in 4 processes', async () => {
    const keyPrefix = uniquePrefix('mp-stampede');
    const user = 'cold-user';
    const workers = await pool.start(4, { keyPrefix, client });

    const reports = await pool.runTogether(workers, {
      userIds: [user],
      callersPerUser: 50,
      loadMs: 300,
    });

    const callers = callersOf(reports);
    expect(callers).toHaveLength(200);
    expect(failures(callers)).toEqual([]);
    const loads = loadsOf(reports);
    expect(loads).toHaveLength(1);
    expect(await loaderRunsInRedis(redis, keyPrefix)).toEqual({ [user]: 1 });
    const [load] = loads;
    expect(load.ok).toBe(true);
    // It was a real stampede: every caller had started before the one load finished.
    expect(Math.max(...callers.map((c) => c.start))).toBeLessThan(load.end!);
    // The callers in the loading process shared its run and got its value; the others waited
    // for it (resolving to undefined), and were woken by the notification, not the lease (3 s).
    expect(callers.map((c) => c.value)).toEqual(
      callers.map((c) => (c.pid === load.pid ? { loadedBy: load.pid, userId: user } : undefined)),
    );
    expect(Math.min(...callers.map((c) => c.end - load.end!))).toBeGreaterThanOrEqual(-SKEW_MS);
    expect(Math.max(...callers.map((c) => c.end - load.end!))).toBeLessThan(1_000);
    expect(await redis.exists(userKey(keyPrefix, user, 'loaded', WORKER_LOAD))).toBe(1);
    expect(await redis.exists(userKey(keyPrefix, user, 'lock', WORKER_LOAD))).toBe(0);

    // Every process shuts down by itself after app.close(): no leaked handles or connections.
    const exits = await pool.closeAll();
    expect(exits.map((e) => [e.worker, e.code])).toEqual(workers.map((w) => [w.name, 0]));
  });

  it('loads each of many users once across processes', async () => {
    const keyPrefix = uniquePrefix('mp-many');
    const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    const workers = await pool.start(4, { keyPrefix, client });

    const reports = await pool.runTogether(workers, {
      userIds: users,
      callersPerUser: 10,
      loadMs: 100,
      mode: 'ensureLoaded',
    });

    const callers = callersOf(reports);
    expect(callers).toHaveLength(4 * 20 * 10);
    expect(failures(callers)).toEqual([]);
    const loads = loadsOf(reports);
    expect(loads.map((l) => l.userId).sort()).toEqual([...users].sort());
    expect(loads.every((l) => l.ok)).toBe(true);
    expect(await loaderRunsInRedis(redis, keyPrefix)).toEqual(
      Object.fromEntries(users.map((u) => [u, 1])),
    );
    for (const user of users) {
      const load = loads.find((l) => l.userId === user)!;
      expect(typeof load.fencingToken).toBe('number');
      // Only the loading process reports 'loaded' for this user; the rest waited or found it done.
      const mine = callers.filter((c) => c.userId === user);
      expect(mine).toHaveLength(4 * 10);
      const loading = mine.filter((c) => c.pid === load.pid);
      expect(loading.map((c) => [c.status, c.value])).toEqual(
        loading.map(() => ['loaded', { loadedBy: load.pid, userId: user }]),
      );
      const others = mine.filter((c) => c.pid !== load.pid);
      expect(
        others.filter((c) => !['loaded-elsewhere', 'already-loaded'].includes(c.status!)),
      ).toEqual([]);
    }
    const flags = await redis.exists(
      ...users.map((u) => userKey(keyPrefix, u, 'loaded', WORKER_LOAD)),
    );
    expect(flags).toBe(users.length);
  });
});

describe('load-once across processes (Redis): failures', () => {
  const pool = workerPool();
  const redis = suiteInspector();

  it('a loader error reaches its callers, frees the lock at once, leaves the flag unset, and the next call loads', async () => {
    const keyPrefix = uniquePrefix('mp-fail');
    const user = 'fails-first';
    // A long lease: if the lock were left to expire, the next call would visibly wait 10 s.
    const [a, b] = await pool.start(2, {
      keyPrefix,
      options: { lockTtlMs: 10_000, waitTimeoutMs: 15_000 },
    });

    const failed = await a.run({
      userIds: [user],
      callersPerUser: 10,
      loadMs: 200,
      failWith: 'database down',
      mode: 'ensureLoaded',
    });

    // Every caller sharing the failed run gets the loader's own error.
    expect(failed.callers).toHaveLength(10);
    for (const c of failed.callers) {
      expect(c).toMatchObject({
        ok: false,
        errorName: 'LoaderFailure',
        errorMessage: 'database down',
      });
    }
    expect(failed.loads).toHaveLength(1);
    expect(failed.loads[0].ok).toBe(false);
    // By the time the callers have the error, the lock is gone and the flag was never set.
    expect(await redis.exists(userKey(keyPrefix, user, 'lock', WORKER_LOAD))).toBe(0);
    expect(await redis.exists(userKey(keyPrefix, user, 'loaded', WORKER_LOAD))).toBe(0);

    const retried = await b.run({
      userIds: [user],
      callersPerUser: 10,
      loadMs: 100,
      mode: 'ensureLoaded',
    });
    expect(failures(retried.callers)).toEqual([]);
    expect(retried.callers.every((c) => c.status === 'loaded')).toBe(true);
    expect(retried.loads).toHaveLength(1);
    const [load] = retried.loads;
    expect(load.ok).toBe(true);
    // Loaded at once, not after the failed holder's lease.
    expect(Math.max(...retried.callers.map((c) => c.ms))).toBeLessThan(2_000);
    expect(load.fencingToken).toBeGreaterThan(failed.loads[0].fencingToken!);
    expect(await loaderRunsInRedis(redis, keyPrefix)).toEqual({ [user]: 2 });
    expect(await redis.exists(userKey(keyPrefix, user, 'loaded', WORKER_LOAD))).toBe(1);
  });

  it('a crashed holder is replaced after its lease, with no caller error', async () => {
    const keyPrefix = uniquePrefix('mp-crash');
    const user = 'holder-dies';
    const lockTtlMs = 1_000;
    const [a, b] = await pool.start(2, {
      keyPrefix,
      options: { lockTtlMs, waitTimeoutMs: 10_000 },
    });

    // A holds the lock (its lease kept alive) with a load that would take a minute.
    const aRun = a.run({
      userIds: [user],
      callersPerUser: 1,
      loadMs: 60_000,
      mode: 'ensureLoaded',
    });
    aRun.catch(() => undefined);
    const aLoad = await a.loaderStarted((r) => r.userId === user);
    const bRun = b.run({ userIds: [user], callersPerUser: 10, loadMs: 100, mode: 'ensureLoaded' });
    await sleep(100);

    // The lease cannot run out before this moment plus what it has left.
    const beforePttl = now();
    const leaseLeft = await redis.pttl(userKey(keyPrefix, user, 'lock', WORKER_LOAD));
    expect(leaseLeft).toBeGreaterThan(0);
    await a.kill('SIGKILL');
    const killedAt = now();
    await expect(aRun).rejects.toThrow(/exited/);

    const report = await bRun;
    expect(failures(report.callers)).toEqual([]);
    expect(report.loads).toHaveLength(1);
    const [load] = report.loads;
    expect(load.ok).toBe(true);
    // B took over only once A's lease had run out, and soon after (at most one lease + slack).
    expect(load.start).toBeGreaterThanOrEqual(beforePttl + leaseLeft - 50);
    expect(load.start - killedAt).toBeLessThan(lockTtlMs + 1_000);
    expect(load.fencingToken).toBeGreaterThan(aLoad.fencingToken!);
    expect(report.callers.every((c) => c.status === 'loaded')).toBe(true);
    expect(await redis.exists(userKey(keyPrefix, user, 'loaded', WORKER_LOAD))).toBe(1);
  });
});
