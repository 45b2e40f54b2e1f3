/**
 * Scenario 3, stampede: 4 processes × 50 callers, one cold user, all fired at one barrier.
 * Waiter extra latency = (caller end − barrier) − load time, for every caller that did not run
 * the loader itself.
 */
import type { Redis } from 'ioredis';
import { sleep } from '../clock';
import { CONFIG } from '../config';
import type { BenchWorker } from '../pool';
import { STRATEGY_IDS, type StrategyId } from '../protocol';
import type { StampedeRow } from '../results';
import { measured, median, percentile } from '../stats';
import { rotate } from './lock-cycle';
import { barrierTrial, type TrialOutcome } from './trial';

/** For every waiter: its end minus the end of the load it waited for. */
function wakeAfterLoad(t: TrialOutcome): number[] {
  const ends = t.loaderEvents.filter((e) => e.type === 'loader-end' && e.ok);
  if (ends.length === 0) return [];
  const first = Math.min(...ends.map((e) => e.at));
  const out: number[] = [];
  for (const r of t.results) {
    const own = ends.find((e) => e.worker === r.worker)?.at ?? first;
    for (const c of r.callers)
      if (c.outcome !== 'ran-loader' && c.outcome !== 'error') out.push(c.end - own);
  }
  return out;
}

export async function stampede(
  admin: Redis,
  workers: BenchWorker[],
  log: (line: string) => void,
): Promise<StampedeRow[]> {
  const cfg = CONFIG.stampede;
  const trials = new Map<string, TrialOutcome[]>();
  const key = (s: StrategyId, loadMs: number): string => `${s}@${loadMs}`;
  for (let repeat = 0; repeat < CONFIG.repeats; repeat++) {
    for (const loadMs of cfg.loadMs) {
      for (const strategy of rotate([...STRATEGY_IDS], repeat)) {
        const user = `stampede:${strategy}:${loadMs}:${repeat}:${Date.now()}`;
        const outcome = await barrierTrial(
          admin,
          workers,
          strategy,
          [user],
          cfg.callersPerProcess,
          loadMs,
        );
        const list = trials.get(key(strategy, loadMs)) ?? [];
        list.push(outcome);
        trials.set(key(strategy, loadMs), list);
        await sleep(100);
      }
      log(`  stampede: repeat ${repeat + 1}/${CONFIG.repeats}, load ${loadMs} ms done`);
    }
  }
  const rows: StampedeRow[] = [];
  for (const loadMs of cfg.loadMs) {
    for (const strategy of STRATEGY_IDS) {
      const list = trials.get(key(strategy, loadMs))!;
      const wakes = list.map(wakeAfterLoad);
      const extras = list.map((t) =>
        t.callers
          .filter((c) => c.outcome !== 'ran-loader' && c.outcome !== 'error')
          .map((c) => c.end - t.startAt - loadMs),
      );
      const commands = list.map((t) => t.redisCommands);
      const medianTrial =
        list.find((t) => t.redisCommands === median(commands)) ??
        list.reduce((a, b) =>
          Math.abs(a.redisCommands - median(commands)) <=
          Math.abs(b.redisCommands - median(commands))
            ? a
            : b,
        );
      const errorKinds: Record<string, number> = {};
      for (const t of list)
        for (const [k, v] of Object.entries(t.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
      rows.push({
        strategy,
        loadMs,
        callers: cfg.processes * cfg.callersPerProcess,
        loaderRuns: measured(list.map((t) => t.loaderRuns)),
        errors: measured(list.map((t) => t.errors)),
        waiterExtraP50Ms: measured(extras.map((e) => percentile(e, 50))),
        waiterExtraP99Ms: measured(extras.map((e) => percentile(e, 99))),
        waiterExtraMaxMs: measured(extras.map((e) => Math.max(...e))),
        redisCommands: measured(commands),
        roundTrips: measured(list.map((t) => t.roundTrips)),
        wallMs: measured(list.map((t) => t.wallMs)),
        barrierLateMs: measured(
          list.map((t) => Math.max(...t.results.map((r) => r.firedAt)) - t.startAt),
        ),
        loadStartMs: measured(
          list.map(
            (t) =>
              Math.min(
                ...t.loaderEvents.filter((e) => e.type === 'loader-start').map((e) => e.at),
              ) - t.startAt,
          ),
        ),
        wakeAfterLoadP50Ms: measured(wakes.map((w) => percentile(w, 50))),
        wakeAfterLoadP99Ms: measured(wakes.map((w) => percentile(w, 99))),
        commandBreakdown: medianTrial.commandBreakdown,
        errorKinds,
      });
    }
  }
  return rows;
}
