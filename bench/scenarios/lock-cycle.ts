/**
 * Scenario 2, lock cycle: acquire + release per second for each strategy, in this process, in
 * both CPU placements (see placement.ts). Sequential: one loop on one user. Concurrent: 32 loops
 * on 32 distinct users at once, which measures throughput (32 loops on one user would measure
 * contention, the stampede's subject). The library also runs with one `events$` subscriber, to
 * show what observing its events costs (the default has none).
 */
import type { Subscription } from 'rxjs';
import { CONFIG } from '../config';
import { concurrentThroughput, throughput } from '../measure';
import { PLACEMENTS, type Pinning } from '../placement';
import { STRATEGY_IDS, type StrategyId } from '../protocol';
import type { LockCycleRow } from '../results';
import { measured, median } from '../stats';
import { createStrategy, type Strategy } from '../strategies';
import { LibraryStrategy } from '../strategies/library';

interface Entry {
  key: string;
  strategy: StrategyId;
  variant?: string;
  s: Strategy;
}

export async function lockCycle(
  redisUrl: string,
  pinning: Pinning,
  log: (line: string) => void,
): Promise<LockCycleRow[]> {
  const cfg = CONFIG.lockCycle;
  const entries: Entry[] = [];
  const placements = pinning.available ? PLACEMENTS : (['unpinned'] as const);
  let subscription: Subscription | undefined;
  try {
    for (const id of STRATEGY_IDS)
      entries.push({ key: id, strategy: id, s: await createStrategy(id, redisUrl) });
    const observed = await LibraryStrategy.create(redisUrl, { keyPrefix: 'bench-lib-events' });
    subscription = observed.events.events$.subscribe(() => undefined);
    entries.splice(1, 0, {
      key: 'library+events',
      strategy: 'library',
      variant: 'one events$ subscriber',
      s: observed,
    });
    const withAutoPipelining = await LibraryStrategy.create(
      redisUrl,
      { keyPrefix: 'bench-lib-ap' },
      { enableAutoPipelining: true },
    );
    entries.splice(2, 0, {
      key: 'library-ap',
      strategy: 'library',
      variant: 'auto-pipelining on',
      s: withAutoPipelining,
    });
    const users = Array.from({ length: cfg.concurrency }, (_, i) => `lock-cycle:${i}`);
    const seq = new Map<string, number[]>();
    const conc = new Map<string, number[]>();
    const push = (m: Map<string, number[]>, k: string, v: number): void => {
      m.set(k, [...(m.get(k) ?? []), v]);
    };
    for (const placement of placements) {
      if (placement !== 'unpinned') pinning.place(placement);
      for (const { s } of entries) {
        await throughput(() => s.lockCycle(users[0]), cfg.warmupMs);
        await concurrentThroughput((i) => s.lockCycle(users[i]), cfg.concurrency, cfg.warmupMs);
      }
    }
    for (let repeat = 0; repeat < CONFIG.repeats; repeat++) {
      for (const placement of placements) {
        if (placement !== 'unpinned') pinning.place(placement);
        // The VM's round-trip cost drifts over seconds, so every strategy gets short slices taken
        // round-robin (in a rotating order); a repeat's value is the median of its slices.
        const slicesSeq = new Map<string, number[]>();
        const slicesConc = new Map<string, number[]>();
        for (let slice = 0; slice < cfg.slices; slice++) {
          for (const { key, s } of rotate(entries, repeat + slice)) {
            push(slicesSeq, key, await throughput(() => s.lockCycle(users[0]), cfg.sliceMs));
            push(
              slicesConc,
              key,
              await concurrentThroughput(
                (i) => s.lockCycle(users[i]),
                cfg.concurrency,
                cfg.sliceMs,
              ),
            );
          }
        }
        for (const { key } of entries) {
          push(seq, `${key}@${placement}`, median(slicesSeq.get(key)!));
          push(conc, `${key}@${placement}`, median(slicesConc.get(key)!));
        }
      }
      log(`  lock cycle: repeat ${repeat + 1}/${CONFIG.repeats} done`);
    }
    return placements.flatMap((placement) =>
      entries.map(({ key, strategy, variant }) => ({
        strategy,
        variant,
        placement,
        sequentialOpsPerSec: measured(seq.get(`${key}@${placement}`)!),
        concurrentOpsPerSec: measured(conc.get(`${key}@${placement}`)!),
      })),
    );
  } finally {
    pinning.release();
    subscription?.unsubscribe();
    await Promise.allSettled(entries.map((e) => e.s.close()));
  }
}

export function rotate<T>(items: T[], by: number): T[] {
  const n = by % items.length;
  return [...items.slice(n), ...items.slice(0, n)];
}
