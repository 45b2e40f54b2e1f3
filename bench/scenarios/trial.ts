/**
 * One barrier-started trial across the pool: every worker fires its calls at the same wall-clock
 * time; Redis commands come from INFO commandstats snapshots taken before and after.
 */
import type { Redis } from 'ioredis';
import { now, sleep } from '../clock';
import { CONFIG } from '../config';
import { newRunId, type BenchWorker } from '../pool';
import type { CallRecord, LoaderEvent, RunResult, StrategyId } from '../protocol';
import { commandDelta, commandStats } from '../stats';

export interface TrialOutcome {
  startAt: number;
  results: RunResult[];
  callers: CallRecord[];
  loaderRuns: number;
  redisCommands: number;
  commandBreakdown: Record<string, number>;
  roundTrips: number;
  errors: number;
  errorKinds: Record<string, number>;
  wallMs: number;
  /** Loader starts and ends of this trial, in every worker. */
  loaderEvents: LoaderEvent[];
}

export async function barrierTrial(
  admin: Redis,
  workers: BenchWorker[],
  strategy: StrategyId,
  userIds: string[],
  callersPerUserPerWorker: number,
  loadMs: number,
): Promise<TrialOutcome> {
  const before = await commandStats(admin);
  const startAt = now() + CONFIG.barrierLeadMs;
  const runIds = workers.map(() => newRunId());
  const loaderEvents: LoaderEvent[] = [];
  const unsubscribe = workers.map((w) =>
    w.onLoader((event) => {
      if (runIds.includes(event.runId)) loaderEvents.push(event);
    }),
  );
  const runs = workers.map((w, i) =>
    w.run(
      { strategy, userIds, callersPerUser: callersPerUserPerWorker, loadMs, startAt },
      runIds[i],
    ),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      workers.forEach((w, i) => w.cancel(runIds[i]));
      reject(new Error(`${strategy} trial did not finish within ${CONFIG.trialTimeoutMs} ms`));
    }, CONFIG.trialTimeoutMs);
  });
  let results: RunResult[];
  try {
    results = await Promise.race([Promise.all(runs), timeout]);
  } finally {
    clearTimeout(timer);
    for (const off of unsubscribe) off();
  }
  // Let anything still on the wire (a keep-alive, a release) land before the snapshot.
  await sleep(50);
  const delta = commandDelta(before, await commandStats(admin));
  const callers = results.flatMap((r) => r.callers);
  const errorKinds: Record<string, number> = {};
  for (const c of callers)
    if (c.outcome === 'error') {
      const kind = (c.error ?? 'Error').split(':')[0];
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    }
  return {
    startAt,
    results,
    callers,
    loaderRuns: results.reduce((n, r) => n + r.loaderRuns, 0),
    redisCommands: delta.total,
    commandBreakdown: delta.byCommand,
    roundTrips: results.reduce((n, r) => n + r.commandsSent, 0),
    errors: callers.filter((c) => c.outcome === 'error').length,
    errorKinds,
    wallMs: Math.max(...callers.map((c) => c.end)) - startAt,
    loaderEvents,
  };
}

/** Adds every count of `from` into `into`. */
export function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}
