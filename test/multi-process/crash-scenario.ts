/**
 * The holder-crash scenario (no Jest), shared by holder-crash-takeover.spec.ts, which asserts on
 * one run, and bench/crash-takeover.ts, which repeats it and reports takeover times.
 *
 * Every worker stampedes one cold user; the worker whose loader starts (the lock winner) is
 * SIGKILLed `killAfterMs` into its load, once every other worker has tried the lock (so all of
 * them are waiting on it). The survivors' waiters must take over when the dead holder's lease
 * runs out.
 */
import type { Redis } from 'ioredis';
import { WORKER_LOAD, type CallerResult, type LoadRecord } from '../fixtures/load-worker.protocol';
import {
  waitingSeen,
  at,
  callersOf,
  firstLoaderEvent,
  loadsOf,
  now,
  userKey,
  type LoadWorker,
  type WorkerPool,
} from './cluster';

export interface CrashScenarioOptions {
  pool: WorkerPool;
  /** Ready workers. */
  workers: LoadWorker[];
  /** A client on the workers' Redis (a Cluster client on a Cluster). */
  redis: Pick<Redis, 'pttl'>;
  keyPrefix: string;
  user: string;
  callersPerWorker?: number;
  loadMs?: number;
  killAfterMs?: number;
}

export interface CrashScenarioResult {
  killed: LoadWorker;
  survivors: LoadWorker[];
  /** The killed holder's loader run (it never ended). */
  killedLoad: LoadRecord;
  /**
   * The lease the dead holder left: PTTL of the lock key read right before the SIGKILL
   * (`leaseReadAt` is when that read was sent), in ms.
   */
  leaseLeftMs: number;
  leaseReadAt: number;
  /** Right after SIGKILL was sent. */
  killedAt: number;
  /** Every caller of the surviving workers. */
  callers: CallerResult[];
  /** Every loader run in the surviving workers, by start time. */
  loads: LoadRecord[];
  /** The first of them: the takeover. */
  takeover: LoadRecord | undefined;
  /** Kill → the new loader's start, ms. */
  takeoverMs: number | undefined;
  /** Kill → the load completed (the successful run's end), ms. */
  completedMs: number | undefined;
}

export async function crashHolderMidLoad(
  options: CrashScenarioOptions,
): Promise<CrashScenarioResult> {
  const { pool, workers, redis, keyPrefix, user } = options;
  const killAfterMs = options.killAfterMs ?? 100;
  const runs = pool.startTogether(workers, {
    userIds: [user],
    callersPerUser: options.callersPerWorker ?? 50,
    loadMs: options.loadMs ?? 300,
    mode: 'ensureLoaded',
  });
  const killedLoad = await firstLoaderEvent(workers, 'loader-start', (r) => r.userId === user);
  const killed = workers.find((w) => w.pid === killedLoad.pid)!;
  const survivors = workers.filter((w) => w !== killed);
  const killedRun = runs.find((r) => r.worker === killed)!;
  killedRun.report.catch(() => undefined); // it dies before answering
  // Every other worker has tried the lock and is waiting on it, and the load is `killAfterMs` old.
  await waitingSeen(survivors, user);
  await at(killedLoad.start + killAfterMs);

  const leaseReadAt = now();
  const leaseLeftMs = await redis.pttl(userKey(keyPrefix, user, 'lock', WORKER_LOAD));
  await killed.kill('SIGKILL');
  const killedAt = killed.killedAt!;

  const reports = await Promise.all(runs.filter((r) => r !== killedRun).map((r) => r.report));
  const callers = callersOf(reports);
  const loads = loadsOf(reports).sort((a, b) => a.start - b.start);
  const takeover = loads[0];
  const completed = loads.find((l) => l.ok);
  return {
    killed,
    survivors,
    killedLoad,
    leaseLeftMs,
    leaseReadAt,
    killedAt,
    callers,
    loads,
    takeover,
    takeoverMs: takeover ? takeover.start - killedAt : undefined,
    completedMs: completed ? completed.end! - killedAt : undefined,
  };
}
