/**
 * Scenario 4, crash: the process that won the lock is SIGKILLed 100 ms into a 300 ms load.
 *
 * Each trial has its own victim process (a fresh worker) whose 10 callers fire first; the 10
 * callers of each of 3 survivor processes fire as soon as the victim reports that its loader
 * started, so the victim is always the winner and the survivors are always waiting when it dies.
 * After the kill a new request for the user arrives every second (round robin over the survivors),
 * as live traffic would, until a load completes in a survivor or the cap is reached.
 *
 * Measured: kill → first load completed in a survivor; errors of the survivors' callers; calls
 * still waiting at the cap. The library runs alone first (its timing is the target); the three
 * alternatives, whose locks must simply expire (10-30 s), run concurrently to save time.
 */
import { now, sleep, until } from '../clock';
import { CONFIG } from '../config';
import { newRunId, type BenchWorker, type WorkerPool } from '../pool';
import type { LoaderEvent, RunResult, StrategyId } from '../protocol';
import type { CrashRow } from '../results';
import { measured } from '../stats';
import { addCounts } from './trial';

const CANCELLED = 'cancelled by the bench';

interface TrialResult {
  takeoverMs: number;
  survivorErrors: number;
  stillWaitingAtCap: number;
  newRequests: number;
  newRequestErrors: number;
  loaderRunsAfterKill: number;
  errorKinds: Record<string, number>;
}

interface TrackedRun {
  worker: BenchWorker;
  runId: number;
  callers: number;
  original: boolean;
  result?: RunResult;
  settled: Promise<void>;
}

function track(
  worker: BenchWorker,
  strategy: StrategyId,
  userId: string,
  callers: number,
  original: boolean,
): TrackedRun {
  const runId = newRunId();
  const run: TrackedRun = { worker, runId, callers, original, settled: Promise.resolve() };
  run.settled = worker
    .run(
      {
        strategy,
        userIds: [userId],
        callersPerUser: callers,
        loadMs: CONFIG.crash.loadMs,
        startAt: now(),
      },
      runId,
    )
    .then(
      (result) => void (run.result = result),
      () => undefined,
    );
  return run;
}

async function crashTrial(
  victim: BenchWorker,
  survivors: BenchWorker[],
  strategy: StrategyId,
  repeat: number,
): Promise<TrialResult> {
  const cfg = CONFIG.crash;
  const userId = `crash:${strategy}:${repeat}:${Date.now()}`;
  let resolveVictimStart!: (at: number) => void;
  const victimStart = new Promise<number>((r) => (resolveVictimStart = r));
  let resolveCompleted!: () => void;
  const completed = new Promise<void>((r) => (resolveCompleted = r));
  let completedAt: number | undefined;
  let loaderRunsAfterKill = 0;
  const listen = (w: BenchWorker) =>
    w.onLoader((event: LoaderEvent) => {
      if (event.userId !== userId) return;
      if (w === victim) {
        if (event.type === 'loader-start') resolveVictimStart(event.at);
        return;
      }
      if (event.type === 'loader-start') loaderRunsAfterKill++;
      if (event.type === 'loader-end' && event.ok && completedAt === undefined) {
        completedAt = event.at;
        resolveCompleted();
      }
    });
  const unsubscribe = [victim, ...survivors].map(listen);
  const runs: TrackedRun[] = [];
  try {
    victim
      .run({
        strategy,
        userIds: [userId],
        callersPerUser: cfg.callersPerProcess,
        loadMs: cfg.loadMs,
        startAt: now() + 20,
      })
      .catch(() => undefined); // rejects when we kill it
    let startTimer: NodeJS.Timeout | undefined;
    const loadStart = await Promise.race([
      victimStart,
      new Promise<never>((_, reject) => {
        startTimer = setTimeout(
          () => reject(new Error(`${strategy}: the victim never started its load`)),
          15_000,
        );
      }),
    ]).finally(() => clearTimeout(startTimer));
    for (const w of survivors) runs.push(track(w, strategy, userId, cfg.callersPerProcess, true));
    await until(loadStart + cfg.killAfterMs);
    victim.kill('SIGKILL');
    const killAt = now();
    const deadline = killAt + cfg.capMs;
    let next = 0;
    while (completedAt === undefined && now() < deadline) {
      await Promise.race([sleep(Math.min(cfg.newRequestEveryMs, deadline - now())), completed]);
      if (completedAt !== undefined || now() >= deadline) break;
      runs.push(track(survivors[next++ % survivors.length], strategy, userId, 1, false));
    }
    // Every strategy bounds its own waits; give the calls until the cap, then cancel the rest.
    const all = (): Promise<unknown> => Promise.all(runs.map((r) => r.settled));
    await Promise.race([all(), sleep(Math.max(0, deadline - now()))]);
    for (const r of runs) if (!r.result) r.worker.cancel(r.runId);
    await Promise.race([all(), sleep(5_000)]);

    const result: TrialResult = {
      takeoverMs: completedAt === undefined ? Number.POSITIVE_INFINITY : completedAt - killAt,
      survivorErrors: 0,
      stillWaitingAtCap: 0,
      newRequests: runs.filter((r) => !r.original).length,
      newRequestErrors: 0,
      loaderRunsAfterKill,
      errorKinds: {},
    };
    for (const r of runs) {
      if (!r.result) {
        result.stillWaitingAtCap += r.callers;
        continue;
      }
      for (const c of r.result.callers) {
        if (c.outcome !== 'error') continue;
        if (c.error?.includes(CANCELLED)) {
          result.stillWaitingAtCap++;
          continue;
        }
        if (r.original) result.survivorErrors++;
        else result.newRequestErrors++;
        addCounts(result.errorKinds, { [(c.error ?? 'Error').split(':')[0]]: 1 });
      }
    }
    return result;
  } finally {
    for (const off of unsubscribe) off();
    victim.kill('SIGKILL');
  }
}

export async function crash(
  pool: WorkerPool,
  survivors: BenchWorker[],
  log: (line: string) => void,
): Promise<CrashRow[]> {
  const cfg = CONFIG.crash;
  const phases: StrategyId[][] = [['library'], ['reference', 'redlock', 'redis-semaphore']];
  const results = new Map<StrategyId, TrialResult[]>();
  // Boot every victim up front, so no boot competes for the CPU with a measured takeover.
  const victims = new Map<string, BenchWorker>();
  for (const strategy of phases.flat()) {
    const names = Array.from({ length: CONFIG.repeats }, (_, r) => `victim-${strategy}-${r}`);
    const spawned = await pool.spawnMany(names, [strategy]);
    spawned.forEach((w, r) => victims.set(`${strategy}#${r}`, w));
  }
  log(`  crash: ${victims.size} victim processes ready`);
  for (const phase of phases) {
    const trials = phase.flatMap((strategy) =>
      Array.from({ length: CONFIG.repeats }, async (_, r) => {
        const outcome = await crashTrial(victims.get(`${strategy}#${r}`)!, survivors, strategy, r);
        const list = results.get(strategy) ?? [];
        list.push(outcome);
        results.set(strategy, list);
      }),
    );
    await Promise.all(trials);
    log(`  crash: ${phase.join(', ')} done`);
  }
  const rows: CrashRow[] = phases.flat().map((strategy) => {
    const list = results.get(strategy)!;
    const errorKinds: Record<string, number> = {};
    for (const t of list) addCounts(errorKinds, t.errorKinds);
    return {
      strategy,
      takeoverMs: measured(list.map((t) => t.takeoverMs)),
      capMs: cfg.capMs,
      survivorCallers: cfg.callersPerProcess * survivors.length,
      survivorErrors: measured(list.map((t) => t.survivorErrors)),
      stillWaitingAtCap: measured(list.map((t) => t.stillWaitingAtCap)),
      newRequests: measured(list.map((t) => t.newRequests)),
      newRequestErrors: measured(list.map((t) => t.newRequestErrors)),
      loaderRunsAfterKill: measured(list.map((t) => t.loaderRunsAfterKill)),
      errorKinds,
    };
  });
  const na = (): CrashRow['takeoverMs'] => measured([Number.NaN]);
  rows.push({
    strategy: 'async-mutex',
    takeoverMs: na(),
    capMs: cfg.capMs,
    survivorCallers: cfg.callersPerProcess * survivors.length,
    survivorErrors: na(),
    stillWaitingAtCap: na(),
    newRequests: na(),
    newRequestErrors: na(),
    loaderRunsAfterKill: na(),
    errorKinds: {},
    note: 'not run: an in-process lock never makes another process wait, so no one waits on the dead process (every process loads for itself)',
  });
  return rows;
}
