/**
 * Shutdown of the lock holder, default options: `app.close()` in the process that holds the lock
 * mid-load releases it at once, so a waiter in another process takes over within 50 ms instead
 * of waiting for the lease (3 s); the closing process's callers get LoadStatusShutdownError, its
 * loader's signal aborts, and the process exits by itself with code 0 (no open handles).
 */
import { WORKER_LOAD } from '../fixtures/load-worker.protocol';
import { uniquePrefix } from '../support/env';
import {
  waitingSeen,
  callersOf,
  failures,
  loadsOf,
  userKey,
  workerPool,
  suiteInspector,
} from './harness';

/** The bound from the start of `app.close()` to the new loader's start. */
const HANDOVER_MS = 50;
/** Cross-process clock skew we tolerate when ordering timestamps of different processes. */
const SKEW_MS = 5;

describe('shutdown of the lock holder (default options)', () => {
  const pool = workerPool();
  const redis = suiteInspector();

  it('app.close() mid-load hands the lock to a waiting process within 50 ms, and the process exits with code 0 by itself', async () => {
    const keyPrefix = uniquePrefix('mp-shutdown');
    const user = 'holder-stops';
    const [a, ...others] = await pool.start(3, { keyPrefix });

    const aRun = a.startRun({
      userIds: [user],
      callersPerUser: 5,
      loadMs: 0,
      holdUntilFinished: true, // never finished: only the shutdown ends it
      mode: 'ensureLoaded',
    });
    aRun.report.catch(() => undefined);
    const aLoad = await a.loaderStarted((r) => r.userId === user);
    const othersRuns = pool.startTogether(others, {
      userIds: [user],
      callersPerUser: 10,
      loadMs: 100,
      mode: 'ensureLoaded',
    });
    await waitingSeen(others, user);

    const exit = await a.close();
    expect(exit).toMatchObject({ code: 0, signal: null, clean: true });
    const closingAt = a.closingAt!;
    expect(closingAt).toBeGreaterThan(aLoad.start);

    // A's loader was told (its signal aborted with the shutdown error)...
    const aEnd = a.loaderEvents.find((e) => e.type === 'loader-end' && e.record.id === aLoad.id);
    expect(aEnd?.record).toMatchObject({ ok: false, abortReason: 'LoadStatusShutdownError' });
    // ...and so were its callers (the worker reports its runs before it lets go of the channel).
    const aReport = await aRun.report;
    expect(aReport.callers.map((c) => [c.ok, c.errorName])).toEqual(
      Array.from({ length: 5 }, () => [false, 'LoadStatusShutdownError']),
    );

    const reports = await Promise.all(othersRuns.map((r) => r.report));
    expect(failures(callersOf(reports))).toEqual([]);
    const loads = loadsOf(reports);
    expect(loads).toHaveLength(1);
    const [load] = loads;
    expect(load.ok).toBe(true);
    const handoverMs = load.start - closingAt;
    console.log(`shutdown: takeover ${handoverMs.toFixed(1)} ms after app.close() began`);
    // A takeover, not a waiter that loaded before the holder closed: it started after the close
    // began, and soon after.
    expect(handoverMs).toBeGreaterThanOrEqual(-SKEW_MS);
    expect(handoverMs).toBeLessThan(HANDOVER_MS);
    expect(load.fencingToken).toBeGreaterThan(aLoad.fencingToken!);
    expect(await redis.exists(userKey(keyPrefix, user, 'loaded', WORKER_LOAD))).toBe(1);
  });
});
