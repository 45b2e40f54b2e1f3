/**
 * Redis killed mid-stampede and restarted 2 s later, across 4 worker processes (default options
 * otherwise: lockTtlMs 3000, waitTimeoutMs 15000, commandTimeoutMs 1000).
 *
 * Wave 1: 4 × 50 callers stampede user U; one process holds the lock (its loader held open by the
 * test), the other three wait on it. Then Redis is SIGKILLed, the holder's loader finishes (so its
 * finish hits the outage), and wave 2 — 4 × 25 new callers for a cold user V — arrives during the
 * outage. 2 s after the kill Redis restarts, empty. Once every worker is back on Redis, a fresh
 * user W is stampeded across all processes again.
 *
 * The documented bound on a caller: `waitTimeoutMs` of waiting, plus one bounded command
 * (`commandTimeoutMs`) to acquire and one to finish, plus the load.
 */
import type { Redis } from 'ioredis';
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_LOCK_TTL_MS,
  DEFAULT_WAIT_TIMEOUT_MS,
  type OnStoreError,
} from '../../src';
import { WORKER_LOAD, type CallerResult, type RunReport } from '../fixtures/load-worker.protocol';
import { inspector, uniquePrefix } from '../support/env';
import { CLIENT_FLAVOURS } from '../support/redis-clients';
import { RedisServer } from '../support/redis-server';
import {
  waitingSeen,
  at,
  callersOf,
  delay,
  failures,
  firstLoaderEvent,
  loadsOf,
  now,
  userKey,
  workerPool,
  type LoadWorker,
} from './harness';

const OUTAGE_MS = 2_000;
/** Event-loop and IPC slack on a busy 2-core machine. */
const SLACK_MS = 1_000;
const LOAD_MS = 100;
const DOCUMENTED_BOUND_MS =
  DEFAULT_WAIT_TIMEOUT_MS + 2 * DEFAULT_COMMAND_TIMEOUT_MS + LOAD_MS + SLACK_MS;
/**
 * "Fast" for a caller that arrives while Redis is down: one command fails (at once while the
 * connection is known down, else at `commandTimeoutMs`), then fail-open loads in process.
 */
const ARRIVED_DURING_OUTAGE_BOUND_MS = DEFAULT_COMMAND_TIMEOUT_MS + LOAD_MS + SLACK_MS;
/** A waiter of wave 1 is woken at the latest when the dead holder's lease (3 s) would end. */
const WAITER_BOUND_MS = DEFAULT_LOCK_TTL_MS + 2 * DEFAULT_COMMAND_TIMEOUT_MS + SLACK_MS;

interface OutageRun {
  holder: LoadWorker;
  killedAt: number;
  restartedAt: number;
  wave1: RunReport[];
  wave2: RunReport[];
  wave2DoneAt: number;
}

/**
 * Each client, with the default `outageGraceMs` (5 s: longer than this 2 s outage, so callers
 * already in the flow ride it out), and ioredis also without grace (every store error applies
 * the policy at once, as in 0.1).
 */
const CASES: Array<[string, (typeof CLIENT_FLAVOURS)[number], number | undefined]> = [
  ...CLIENT_FLAVOURS.map(
    (c) =>
      [`${c}, default grace`, c, undefined] as [
        string,
        (typeof CLIENT_FLAVOURS)[number],
        undefined,
      ],
  ),
  ['ioredis-url, outageGraceMs 0', 'ioredis-url', 0],
];

describe.each(CASES)(
  'Redis killed mid-stampede, restarted 2 s later (%s)',
  (_label, client, outageGraceMs) => {
    const rideOut = outageGraceMs === undefined;
    const grace = outageGraceMs === undefined ? {} : { outageGraceMs };
    const pool = workerPool();
    let server: RedisServer;
    let redis: Redis;

    beforeAll(async () => {
      server = await RedisServer.start();
      redis = inspector(server.url);
      redis.on('error', () => undefined); // it goes down with the server
    });
    afterEach(async () => {
      if (server.pid === undefined) await server.restart();
    });
    afterAll(async () => {
      redis.disconnect();
      await server.stop();
    });

    async function outageMidStampede(workers: LoadWorker[], users: string[]): Promise<OutageRun> {
      const [u, v] = users;
      // Wave 1; every wave-1 loader (the holder's, and any later one) waits for finishLoad.
      const wave1 = pool.startTogether(workers, {
        userIds: [u],
        callersPerUser: 50,
        loadMs: 0,
        holdUntilFinished: true,
        mode: 'ensureLoaded',
      });
      const holderLoad = await firstLoaderEvent(workers, 'loader-start', (r) => r.userId === u);
      const holder = workers.find((w) => w.pid === holderLoad.pid)!;
      await waitingSeen(
        workers.filter((w) => w !== holder),
        u,
      );

      const killedAt = now();
      await server.kill();
      for (const run of wave1) run.worker.finishLoad(run.runId);
      const wave2 = await pool.runTogether(workers, {
        userIds: [v],
        callersPerUser: 25,
        loadMs: LOAD_MS,
        mode: 'ensureLoaded',
      });
      const wave2DoneAt = now();
      await at(killedAt + OUTAGE_MS);
      const restartedAt = now();
      await server.restart();
      return {
        holder,
        killedAt,
        restartedAt,
        wave1: await Promise.all(wave1.map((r) => r.report)),
        wave2,
        wave2DoneAt,
      };
    }

    /**
     * Waits until every worker's calls go to Redis again: loads a fresh probe user in it until the
     * flag shows up in Redis (with fail-open a call also succeeds in memory, so success alone does
     * not tell).
     */
    async function backOnRedis(workers: LoadWorker[], keyPrefix: string): Promise<void> {
      for (const w of workers) {
        const deadline = now() + 10_000;
        for (let n = 0; ; n++) {
          const probe = `probe-${w.name}-${n}`;
          await w.run({ userIds: [probe], callersPerUser: 1, loadMs: 0, mode: 'ensureLoaded' });
          if ((await redis.exists(userKey(keyPrefix, probe, 'loaded', WORKER_LOAD))) === 1) break;
          if (now() > deadline) throw new Error(`${w.name} not back on Redis within 10 s`);
          await delay(50); // retry pacing while ioredis reconnects
        }
      }
    }

    /** A fresh user, stampeded by every process once all are back on Redis, loads exactly once. */
    async function loadsOnceAgain(workers: LoadWorker[], keyPrefix: string): Promise<void> {
      await backOnRedis(workers, keyPrefix);
      const w = 'after-restart';
      const reports = await pool.runTogether(workers, {
        userIds: [w],
        callersPerUser: 50,
        loadMs: LOAD_MS,
        mode: 'ensureLoaded',
      });
      expect(failures(callersOf(reports))).toEqual([]);
      // Every worker reports its own loader runs: one in total across the processes. (The
      // workers' Redis-side run counter is written without waiting, so right after a restart it
      // may not have reconnected yet; the reports are the reliable count here.)
      expect(loadsOf(reports)).toHaveLength(1);
      expect(await redis.exists(userKey(keyPrefix, w, 'loaded', WORKER_LOAD))).toBe(1);
    }

    function describeTimes(label: string, callers: CallerResult[]): string {
      const ms = callers.map((c) => c.ms);
      return `${label}: ${callers.length} callers, max ${Math.round(Math.max(...ms))} ms`;
    }

    it('fail-open (default): every caller resolves within the documented bound, no unhandled rejection, and after the restart a new user loads exactly once again', async () => {
      const keyPrefix = uniquePrefix('mp-outage-open');
      const workers = await pool.start(4, {
        keyPrefix,
        redisUrl: server.url,
        client,
        options: grace,
      }); // fail-open default
      const r = await outageMidStampede(workers, ['u', 'v']);

      const wave1 = callersOf(r.wave1);
      const wave2 = callersOf(r.wave2);
      expect(wave1).toHaveLength(200);
      expect(wave2).toHaveLength(100);
      expect(failures([...wave1, ...wave2])).toEqual([]);
      expect(Math.max(...[...wave1, ...wave2].map((c) => c.ms))).toBeLessThan(DOCUMENTED_BOUND_MS);
      expect(Math.max(...wave1.map((c) => c.ms))).toBeLessThan(WAITER_BOUND_MS);
      expect(Math.max(...wave2.map((c) => c.ms))).toBeLessThan(ARRIVED_DURING_OUTAGE_BOUND_MS);
      // Callers arriving during the outage did not wait for Redis: each process loaded V once, in
      // process, and all of them were done before Redis came back.
      expect(r.wave2DoneAt).toBeLessThan(r.restartedAt);
      const vLoads = loadsOf(r.wave2);
      expect(vLoads.map((l) => l.pid).sort()).toEqual(workers.map((w) => w.pid).sort());
      console.log(
        `outage (${_label}), fail-open: loads of the user being loaded when Redis died: ${loadsOf(r.wave1).length}; ${describeTimes('wave 1 (waiting when Redis died)', wave1)}; ` +
          `${describeTimes('wave 2 (arrived during the outage)', wave2)}, done ${Math.round(r.wave2DoneAt - r.killedAt)} ms after the kill`,
      );

      await loadsOnceAgain(workers, keyPrefix);
      expect(pool.processErrors()).toEqual([]);
    });

    it('fail-closed: callers that need Redis during the outage get LoadStatusUnavailableError fast, none hangs, and after the restart a new user loads exactly once again', async () => {
      const policy: OnStoreError = 'fail-closed';
      const keyPrefix = uniquePrefix('mp-outage-closed');
      const workers = await pool.start(4, {
        keyPrefix,
        redisUrl: server.url,
        client,
        options: { onStoreError: policy, ...grace },
      });
      const r = await outageMidStampede(workers, ['u', 'v']);

      const wave1 = callersOf(r.wave1);
      const wave2 = callersOf(r.wave2);
      expect(wave1).toHaveLength(200);
      expect(wave2).toHaveLength(100);
      expect(Math.max(...[...wave1, ...wave2].map((c) => c.ms))).toBeLessThan(DOCUMENTED_BOUND_MS);
      expect(Math.max(...wave1.map((c) => c.ms))).toBeLessThan(WAITER_BOUND_MS);
      expect(Math.max(...wave2.map((c) => c.ms))).toBeLessThan(ARRIVED_DURING_OUTAGE_BOUND_MS);
      // The holder's finish ran into the outage. Within the grace, it retried until Redis was back:
      // its callers have the value. Without grace: the typed error.
      const holders = wave1.filter((c) => c.pid === r.holder.pid);
      expect(holders).toHaveLength(50);
      expect(holders.map((c) => c.errorName ?? 'ok')).toEqual(
        holders.map(() => (rideOut ? 'ok' : 'LoadStatusUnavailableError')),
      );
      // Everyone arriving during the outage gets it too, before Redis is back.
      for (const c of wave2)
        expect(c).toMatchObject({ ok: false, errorName: 'LoadStatusUnavailableError' });
      expect(r.wave2DoneAt).toBeLessThan(r.restartedAt);
      // The waiters of other processes slept through the outage (their wake-up is the holder's
      // lease, 3 s, or the subscriber coming back): each ends with a value, or with the typed
      // error if its re-check still found Redis unreachable — never anything else.
      const waiters = wave1.filter((c) => c.pid !== r.holder.pid);
      expect(waiters).toHaveLength(150);
      expect(waiters.filter((c) => !c.ok && c.errorName !== 'LoadStatusUnavailableError')).toEqual(
        [],
      );
      expect(loadsOf(r.wave2)).toEqual([]);
      console.log(
        `outage (${_label}), ${policy}: loads of that user: ${loadsOf(r.wave1).length}; ${describeTimes('wave 1', wave1)} (${wave1.filter((c) => !c.ok).length} LoadStatusUnavailableError); ` +
          `${describeTimes('wave 2', wave2)} (all LoadStatusUnavailableError), done ${Math.round(r.wave2DoneAt - r.killedAt)} ms after the kill`,
      );

      await loadsOnceAgain(workers, keyPrefix);
      expect(pool.processErrors()).toEqual([]);
    });
  },
);
