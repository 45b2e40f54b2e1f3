/**
 * Scenario 5: 1,000 users × 20 callers each, spread over 4 processes (5 callers per user per
 * process), every call fired at one barrier; loader 100 ms.
 */
import type { Redis } from 'ioredis';
import { sleep } from '../clock';
import { CONFIG } from '../config';
import type { BenchWorker } from '../pool';
import { STRATEGY_IDS, type StrategyId } from '../protocol';
import type { ManyUsersRow } from '../results';
import { measured, percentile } from '../stats';
import { rotate } from './lock-cycle';
import { addCounts, barrierTrial, type TrialOutcome } from './trial';

export async function manyUsers(
  admin: Redis,
  workers: BenchWorker[],
  log: (line: string) => void,
): Promise<ManyUsersRow[]> {
  const cfg = CONFIG.manyUsers;
  const perWorker = cfg.callersPerUser / cfg.processes;
  const trials = new Map<StrategyId, TrialOutcome[]>(STRATEGY_IDS.map((s) => [s, []]));
  for (let repeat = 0; repeat < CONFIG.repeats; repeat++) {
    for (const strategy of rotate([...STRATEGY_IDS], repeat)) {
      const stamp = Date.now();
      const users = Array.from(
        { length: cfg.users },
        (_, i) => `many:${strategy}:${repeat}:${stamp}:${i}`,
      );
      trials
        .get(strategy)!
        .push(await barrierTrial(admin, workers, strategy, users, perWorker, cfg.loadMs));
      await sleep(300);
    }
    log(`  many users: repeat ${repeat + 1}/${CONFIG.repeats} done`);
  }
  return STRATEGY_IDS.map((strategy) => {
    const list = trials.get(strategy)!;
    const errorKinds: Record<string, number> = {};
    for (const t of list) addCounts(errorKinds, t.errorKinds);
    return {
      strategy,
      users: cfg.users,
      callers: cfg.users * cfg.callersPerUser,
      loads: measured(list.map((t) => t.loaderRuns)),
      errors: measured(list.map((t) => t.errors)),
      totalMs: measured(list.map((t) => t.wallMs)),
      callerP99Ms: measured(
        list.map((t) =>
          percentile(
            t.callers.filter((c) => c.outcome !== 'error').map((c) => c.end - t.startAt),
            99,
          ),
        ),
      ),
      redisCommands: measured(list.map((t) => t.redisCommands)),
      roundTrips: measured(list.map((t) => t.roundTrips)),
      errorKinds,
    };
  });
}
