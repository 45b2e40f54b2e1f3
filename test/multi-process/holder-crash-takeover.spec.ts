/**
 * Holder crash with DEFAULT options (lockTtlMs 3000, waitTimeoutMs 15000): 4 processes × 50
 * callers stampede one cold user with a 300 ms loader, and the process that won the lock is
 * SIGKILLed 100 ms into its load. The dead holder's lock is never released; the waiters learnt its
 * remaining lease when they tried the lock and take over the moment it runs out.
 */
import { WORKER_LOAD } from '../fixtures/load-worker.protocol';
import { DEFAULT_LOCK_TTL_MS } from '../../src';
import { uniquePrefix } from '../support/env';
import { crashHolderMidLoad } from './crash-scenario';
import { failures, loaderRunsInRedis, userKey, workerPool, suiteInspector } from './harness';

/** Cross-process clock skew tolerated when ordering timestamps of different processes. */
const SKEW_MS = 5;
/** Allowed from the lease's end to the new loader's start: timer, one round trip, IPC. */
const TAKEOVER_SLACK_MS = 250;

describe('holder crash (default options)', () => {
  const pool = workerPool();
  const redis = suiteInspector();

  it('a holder SIGKILLed mid-load is replaced by exactly one loader within its lease + 250 ms, and no surviving caller sees an error', async () => {
    const keyPrefix = uniquePrefix('mp-crash-default');
    const user = 'holder-dies';
    const workers = await pool.start(4, { keyPrefix }); // default options

    const r = await crashHolderMidLoad({
      pool,
      workers,
      redis,
      keyPrefix,
      user,
      callersPerWorker: 50,
      loadMs: 300,
      killAfterMs: 100,
    });

    // "Lease" here is MEASURED: the PTTL of the lock key read right before the kill (≈ 2.9 s of
    // the 3 s lockTtlMs; the first extension would only come at lockTtlMs / 3).
    expect(r.leaseLeftMs).toBeGreaterThan(0);
    expect(r.leaseLeftMs).toBeLessThanOrEqual(DEFAULT_LOCK_TTL_MS);
    expect(r.killedAt - r.killedLoad.start).toBeLessThan(1_000); // killed before any extension

    // Every surviving caller (3 × 50) resolved, with no error.
    expect(r.callers).toHaveLength(150);
    expect(failures(r.callers)).toEqual([]);

    // Exactly one other process ran the loader again, and completed it.
    expect(r.loads).toHaveLength(1);
    const takeover = r.takeover!;
    expect(takeover.ok).toBe(true);
    expect(takeover.pid).not.toBe(r.killed.pid);
    expect(takeover.fencingToken).toBeGreaterThan(r.killedLoad.fencingToken!);
    expect(await loaderRunsInRedis(redis, keyPrefix)).toEqual({ [user]: 2 });

    // Not before the dead holder's lease ran out (mutual exclusion), and soon after it did.
    expect(takeover.start).toBeGreaterThanOrEqual(r.leaseReadAt + r.leaseLeftMs - SKEW_MS);
    expect(r.takeoverMs!).toBeLessThan(r.leaseLeftMs + TAKEOVER_SLACK_MS);

    // The loading process's callers got its value; the others were woken by its notification.
    expect(r.callers.length).toBeGreaterThan(0);
    expect(r.callers.map((c) => c.status)).toEqual(
      r.callers.map((c) => (c.pid === takeover.pid ? 'loaded' : 'loaded-elsewhere')),
    );
    expect(Math.max(...r.callers.map((c) => c.end - takeover.end!))).toBeLessThan(1_000);
    expect(await redis.exists(userKey(keyPrefix, user, 'loaded', WORKER_LOAD))).toBe(1);
    expect(await redis.exists(userKey(keyPrefix, user, 'lock', WORKER_LOAD))).toBe(0);
    console.log(
      `holder crash: lease left ${r.leaseLeftMs} ms at the kill; takeover ${Math.round(r.takeoverMs!)} ms ` +
        `and load completed ${Math.round(r.completedMs!)} ms after the SIGKILL; ${r.callers.length} callers, 0 errors`,
    );
  });
});
