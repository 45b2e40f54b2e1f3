/**
 * Part 7, steady traffic across TTL expiry: 4 worker processes each start a call every 10 ms (a
 * timer, users round robin, the processes phase-shifted so the calls interleave) for a few active
 * users, over several short flag TTLs. Rows: the library without refresh-ahead, the library with
 * `refreshAheadMs`, and the reference pattern, all with the same flag TTL, one after the other
 * in a rotating order every repeat. Before each row's traffic one process loads every user once
 * (cold, not measured), so the traffic starts on loaded users and meets only TTL expiries. Loader
 * runs are counted in the workers' loaders (a refresh-ahead's background loads included), and a
 * worker reports only after every load it started has ended.
 */
import { now, sleep } from '../clock';
import { CONFIG } from '../config';
import { newRunId, type BenchWorker, type WorkerPool } from '../pool';
import {
  STEADY_VARIANTS,
  type LoaderEvent,
  type SteadyCommand,
  type SteadyReport,
  type SteadyVariant,
} from '../protocol';
import type { SteadyResult, SteadyRow } from '../results';
import { measured, median, nsHistogram, percentile } from '../stats';
import { steadyLabel } from '../strategies';
import { rotate } from './lock-cycle';
import { addCounts } from './trial';

interface Trial {
  reports: SteadyReport[];
  primeLoads: number;
  /** Gaps between one user's consecutive loader starts (the cold load's included), ms. */
  loadGapsMs: number[];
}

/** Per user, the gaps between consecutive loader starts. */
function gaps(starts: LoaderEvent[]): number[] {
  const byUser = new Map<string, number[]>();
  for (const e of starts) byUser.set(e.userId, [...(byUser.get(e.userId) ?? []), e.at]);
  const out: number[] = [];
  for (const at of byUser.values()) {
    at.sort((a, b) => a - b);
    for (let i = 1; i < at.length; i++) out.push(at[i] - at[i - 1]);
  }
  return out;
}

async function trial(
  workers: BenchWorker[],
  variant: SteadyVariant,
  userIds: string[],
): Promise<Trial> {
  const cfg = CONFIG.steady;
  const base = { variant, userIds, everyMs: cfg.everyMs, loadMs: cfg.loadMs };
  const primeRunId = newRunId();
  const runIds = workers.map(() => newRunId());
  const starts: LoaderEvent[] = [];
  const unsubscribe = workers.map((w) =>
    w.onLoader((e) => {
      if (e.type === 'loader-start' && (e.runId === primeRunId || runIds.includes(e.runId)))
        starts.push(e);
    }),
  );
  try {
    const out = await primeAndRun(workers, variant, base, primeRunId, runIds);
    return { ...out, loadGapsMs: gaps(starts) };
  } finally {
    for (const off of unsubscribe) off();
  }
}

async function primeAndRun(
  workers: BenchWorker[],
  variant: SteadyVariant,
  base: Pick<SteadyCommand, 'variant' | 'userIds' | 'everyMs' | 'loadMs'>,
  primeRunId: number,
  runIds: number[],
): Promise<Omit<Trial, 'loadGapsMs'>> {
  const cfg = CONFIG.steady;
  // The cold loads: one awaited call per user in the first process, before any traffic.
  const prime = await workers[0].steady(
    { ...base, phaseMs: 0, durationMs: 0, startAt: now(), prime: true },
    primeRunId,
  );
  const primeErrors = prime.primeCalls.filter((c) => c.outcome === 'error');
  if (primeErrors.length > 0)
    throw new Error(`steady ${variant}: the cold load failed: ${primeErrors[0].error}`);
  const startAt = now() + CONFIG.barrierLeadMs;
  const durationMs = cfg.ttls * cfg.loadedTtlMs;
  const runs = workers.map((w, i) =>
    w.steady(
      {
        ...base,
        phaseMs: (i * cfg.everyMs) / workers.length,
        durationMs,
        startAt,
        prime: false,
      },
      runIds[i],
    ),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        workers.forEach((w, i) => w.cancel(runIds[i]));
        reject(new Error(`steady ${variant} did not finish within the trial timeout`));
      },
      CONFIG.barrierLeadMs + durationMs + CONFIG.trialTimeoutMs,
    );
  });
  try {
    const reports = await Promise.race([Promise.all(runs), timeout]);
    return { reports, primeLoads: prime.primeLoaderRuns };
  } finally {
    clearTimeout(timer);
  }
}

/** One repeat's numbers for a row. */
function summarize(t: Trial) {
  const cfg = CONFIG.steady;
  const calls = t.reports.flatMap((r) => r.calls);
  const histogram = nsHistogram();
  for (const c of calls) histogram.recordValue(Math.max(1, Math.round(c.latencyMs * 1e6)));
  const latency = {
    p50Ms: histogram.getValueAtPercentile(50) / 1e6,
    p99Ms: histogram.getValueAtPercentile(99) / 1e6,
    maxMs: histogram.maxValue / 1e6,
  };
  histogram.destroy();
  const trafficMs =
    Math.max(...t.reports.map((r) => r.lastAt)) - Math.min(...t.reports.map((r) => r.firstAt));
  const loaderRuns = t.reports.reduce((n, r) => n + r.loaderRuns, 0);
  const errorKinds: Record<string, number> = {};
  for (const c of calls)
    if (c.outcome === 'error') {
      const kind = (c.error ?? 'Error').split(':')[0];
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    }
  const late = t.reports.flatMap((r) => r.timerLateMs);
  return {
    callers: calls.length,
    trafficMs,
    ...latency,
    waited: calls.filter((c) => c.latencyMs > cfg.waitedMs).length,
    notFromFlag: calls.filter((c) => c.outcome !== 'already-loaded' && c.outcome !== 'error')
      .length,
    loaderRuns,
    backgroundLoads: calls.filter((c) => c.background).length,
    loadsPerTtl: loaderRuns / cfg.users / (trafficMs / cfg.loadedTtlMs),
    loadGapMs: median(t.loadGapsMs),
    errors: calls.filter((c) => c.outcome === 'error').length,
    errorKinds,
    timerLateP99Ms: percentile(late, 99),
    timerLateMaxMs: Math.max(...late),
    skipped: t.reports.reduce((n, r) => n + r.skipped, 0),
  };
}

export async function steadyTraffic(
  pool: WorkerPool,
  log: (line: string) => void,
): Promise<SteadyResult> {
  const started = performance.now();
  const cfg = CONFIG.steady;
  const setup = { loadedTtlMs: cfg.loadedTtlMs, refreshAheadMs: cfg.refreshAheadMs };
  const workers = await pool.spawnMany(
    Array.from({ length: cfg.processes }, (_, i) => `s${i + 1}`),
    [],
    2,
    setup,
  );
  const trials = new Map<SteadyVariant, Trial[]>(STEADY_VARIANTS.map((v) => [v, []]));
  try {
    for (let repeat = 0; repeat < CONFIG.repeats; repeat++) {
      for (const variant of rotate([...STEADY_VARIANTS], repeat)) {
        const stamp = Date.now();
        const users = Array.from(
          { length: cfg.users },
          (_, i) => `steady:${variant}:${repeat}:${stamp}:${i}`,
        );
        const t = await trial(workers, variant, users);
        trials.get(variant)!.push(t);
        const s = summarize(t);
        log(
          `  steady: repeat ${repeat + 1}/${CONFIG.repeats} ${variant}: p99 ${s.p99Ms.toFixed(2)} ms, ` +
            `${s.waited} of ${s.callers} callers > ${cfg.waitedMs} ms, ${s.loaderRuns} loads ` +
            `(${s.backgroundLoads} background), ${s.errors} errors`,
        );
        await sleep(300);
      }
    }
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
  const rows: SteadyRow[] = STEADY_VARIANTS.map((variant) => {
    const list = trials.get(variant)!;
    const sums = list.map(summarize);
    const pick = (f: (x: (typeof sums)[number]) => number) => measured(sums.map(f));
    const errorKinds: Record<string, number> = {};
    for (const x of sums) addCounts(errorKinds, x.errorKinds);
    return {
      variant,
      label: steadyLabel(variant, setup),
      callers: pick((x) => x.callers),
      trafficMs: pick((x) => x.trafficMs),
      p50Ms: pick((x) => x.p50Ms),
      p99Ms: pick((x) => x.p99Ms),
      maxMs: pick((x) => x.maxMs),
      waited: pick((x) => x.waited),
      notFromFlag: pick((x) => x.notFromFlag),
      loaderRuns: pick((x) => x.loaderRuns),
      backgroundLoads: pick((x) => x.backgroundLoads),
      loadsPerTtl: pick((x) => x.loadsPerTtl),
      loadGapMs: pick((x) => x.loadGapMs),
      errors: pick((x) => x.errors),
      errorKinds,
      primeLoads: list.map((t) => t.primeLoads),
      timerLateP99Ms: pick((x) => x.timerLateP99Ms),
      timerLateMaxMs: pick((x) => x.timerLateMaxMs),
      skipped: pick((x) => x.skipped),
    };
  });
  return { settings: { ...cfg }, rows, durationSec: (performance.now() - started) / 1000 };
}
