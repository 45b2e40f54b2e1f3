/**
 * Loader failure in the lock holder's process, default options: the holder's callers get the
 * loader's error, the lock is released and the waiters notified at once, and a waiter in another
 * process takes over within 50 ms of the failure — not after the lease (3 s), a poll interval
 * (100 ms) or the wait timeout (15 s).
 */
import { WORKER_LOAD } from '../fixtures/load-worker.protocol';
import { uniquePrefix } from '../support/env';
import {
  waitingSeen,
  callersOf,
  failures,
  loaderRunsInRedis,
  loadsOf,
  userKey,
  workerPool,
  suiteInspector,
} from './harness';

/** Cross-process clock skew tolerated when ordering timestamps of different processes. */
const SKEW_MS = 5;
/** The bound from the failed loader's end to the new loader's start. */
const HANDOVER_MS = 50;

describe('loader error in the holder (default options)', () => {
  const pool = workerPool();
  const redis = suiteInspector();

  it('its callers get the error, and a waiter in another process takes over within 50 ms; exactly one successful load', async () => {
    const keyPrefix = uniquePrefix('mp-loader-error');
    const user = 'fails-first';
    const [a, ...others] = await pool.start(4, { keyPrefix });

    // A takes the lock alone; its loader runs until the test makes it fail.
    const aRun = a.startRun({
      userIds: [user],
      callersPerUser: 10,
      loadMs: 0,
      holdUntilFinished: true,
      mode: 'ensureLoaded',
    });
    await a.loaderStarted((r) => r.userId === user);
    // The three other processes stampede the same user, and every one of them is waiting on
    // A's lock before A's loader fails.
    const othersRuns = pool.startTogether(others, {
      userIds: [user],
      callersPerUser: 10,
      loadMs: 100,
      mode: 'ensureLoaded',
    });
    await waitingSeen(others, user);
    a.finishLoad(aRun.runId, 'upstream timeout');
    const aReport = await aRun.report;
    const otherReports = await Promise.all(othersRuns.map((r) => r.report));

    // Every caller sharing the failed run gets the loader's own error.
    expect(aReport.callers).toHaveLength(10);
    for (const c of aReport.callers)
      expect(c).toMatchObject({
        ok: false,
        errorName: 'LoaderFailure',
        errorMessage: 'upstream timeout',
      });
    expect(aReport.loads).toHaveLength(1);
    const [failedLoad] = aReport.loads;
    expect(failedLoad.ok).toBe(false);

    // Every waiter resolves; exactly one of them loaded, right after the failure.
    const waiters = callersOf(otherReports);
    expect(waiters).toHaveLength(30);
    expect(failures(waiters)).toEqual([]);
    const successes = loadsOf(otherReports);
    expect(successes).toHaveLength(1);
    const [load] = successes;
    expect(load.ok).toBe(true);
    const handoverMs = load.start - failedLoad.end!;
    console.log(`loader error: takeover ${handoverMs.toFixed(1)} ms after the failure`);
    expect(handoverMs).toBeGreaterThanOrEqual(-SKEW_MS);
    expect(handoverMs).toBeLessThan(HANDOVER_MS);
    expect(load.fencingToken).toBeGreaterThan(failedLoad.fencingToken!);
    expect(await loaderRunsInRedis(redis, keyPrefix)).toEqual({ [user]: 2 });
    expect(waiters.length).toBeGreaterThan(0);
    expect(waiters.map((c) => c.status)).toEqual(
      waiters.map((c) => (c.pid === load.pid ? 'loaded' : 'loaded-elsewhere')),
    );
    expect(await redis.exists(userKey(keyPrefix, user, 'loaded', WORKER_LOAD))).toBe(1);
  });
});
