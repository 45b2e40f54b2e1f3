/**
 * Short Redis troubles that must not cost more than they have to:
 * - a Redis stall shorter than the lease (a slow command, a fork, a failover pause) must not tell
 *   a running loader that its lease was lost: the lock is still its own in Redis;
 * - a process that boots while Redis is down must get pub/sub wake-ups once Redis is back, like
 *   every other process ("the subscriber connection reconnects and resubscribes").
 */
import type { Redis } from 'ioredis';
import type { OnStoreError } from '../../src';
import { WORKER_LOAD } from '../fixtures/load-worker.protocol';
import { inspector, uniquePrefix } from '../support/env';
import { RedisServer } from '../support/redis-server';
import {
  waitingSeen,
  at,
  callersOf,
  delay,
  failures,
  loadsOf,
  now,
  userKey,
  workerPool,
  type LoadWorker,
} from './harness';

describe('Redis blips', () => {
  const pool = workerPool();
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await RedisServer.start();
    redis = inspector(server.url);
    redis.on('error', () => undefined);
  });
  afterEach(async () => {
    if (server.pid === undefined) await server.restart();
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
  });

  it.each<OnStoreError>(['fail-closed', 'fail-open'])(
    '%s: a Redis stall shorter than the lease does not abort the running loader, whose lock is intact',
    async (onStoreError) => {
      const keyPrefix = uniquePrefix('mp-stall');
      const user = 'stalled';
      // Defaults otherwise: lease 3000 ms, extended every 1000 ms; commands bounded at 1000 ms.
      const [a, b] = await pool.start(2, {
        keyPrefix,
        redisUrl: server.url,
        options: { onStoreError },
      });
      const aRun = a.startRun({
        userIds: [user],
        callersPerUser: 5,
        loadMs: 0,
        holdUntilFinished: true,
        mode: 'ensureLoaded',
      });
      const aLoad = await a.loaderStarted((r) => r.userId === user);
      const bRun = b.startRun({
        userIds: [user],
        callersPerUser: 5,
        loadMs: 100,
        mode: 'ensureLoaded',
      });
      await waitingSeen([b], user);

      // Redis answers nobody for 2.3 s, from before the first extension (at ~1000 ms) until
      // after it timed out (at ~2000 ms). The extension then runs when Redis resumes, so the
      // lease never runs out.
      expect(now() - aLoad.start).toBeLessThan(800);
      await redis.call('CLIENT', 'PAUSE', '2300', 'ALL');
      await at(aLoad.start + 2_600);
      const lock = userKey(keyPrefix, user, 'lock', WORKER_LOAD);
      expect(await redis.pttl(lock)).toBeGreaterThan(0); // the lease is intact...
      const aliveLoads = a.runningLoads().map((r) => r.id);
      a.finishLoad(aRun.runId);
      const [aReport, bReport] = await Promise.all([aRun.report, bRun.report]);

      // ...so the loader was not told otherwise, and nobody else loaded.
      expect(aliveLoads).toEqual([aLoad.id]);
      expect(aReport.loads).toEqual([expect.objectContaining({ id: aLoad.id, ok: true })]);
      expect(aReport.loads[0].abortReason).toBeUndefined();
      expect(failures([...aReport.callers, ...bReport.callers])).toEqual([]);
      expect(bReport.loads).toEqual([]);
      expect(await redis.exists(userKey(keyPrefix, user, 'loaded', WORKER_LOAD))).toBe(1);
    },
  );

  it('a process that boots while Redis is down is woken by notifications once Redis is back', async () => {
    const keyPrefix = uniquePrefix('mp-late-boot');
    const user = 'woken';
    // Polling far away and a long lease: only a notification can end the wait below quickly.
    const options = { lockTtlMs: 5_000, pollIntervalMs: 5_000 };
    await server.kill();
    const [late] = await pool.start(1, { keyPrefix, redisUrl: server.url, options });
    await server.restart();
    const [a] = await pool.start(1, { keyPrefix, redisUrl: server.url, options });
    await backOnRedis(late, keyPrefix);

    const aRun = a.startRun({
      userIds: [user],
      callersPerUser: 1,
      loadMs: 0,
      holdUntilFinished: true,
      mode: 'ensureLoaded',
    });
    await a.loaderStarted((r) => r.userId === user);
    const lateRun = late.startRun({
      userIds: [user],
      callersPerUser: 5,
      loadMs: 100,
      mode: 'ensureLoaded',
    });
    await waitingSeen([late], user);
    a.finishLoad(aRun.runId);
    const [aReport, lateReport] = await Promise.all([aRun.report, lateRun.report]);

    const [load] = aReport.loads;
    expect(load.ok).toBe(true);
    expect(failures(callersOf([aReport, lateReport]))).toEqual([]);
    expect(loadsOf([lateReport])).toEqual([]);
    for (const c of lateReport.callers) {
      expect(c.status).toBe('loaded-elsewhere');
      // Woken by the 'loaded' notification, not by the 5 s lease or poll.
      expect(c.end - load.end!).toBeLessThan(500);
    }
  });

  /** Loads fresh probe users in `worker` until one's flag shows up in Redis. */
  async function backOnRedis(worker: LoadWorker, keyPrefix: string): Promise<void> {
    const deadline = now() + 10_000;
    for (let n = 0; ; n++) {
      const probe = `probe-${n}`;
      await worker.run({ userIds: [probe], callersPerUser: 1, loadMs: 0, mode: 'ensureLoaded' });
      if ((await redis.exists(userKey(keyPrefix, probe, 'loaded', WORKER_LOAD))) === 1) return;
      if (now() > deadline) throw new Error(`${worker.name} not back on Redis within 10 s`);
      await delay(50); // retry pacing while ioredis reconnects
    }
  }
});
