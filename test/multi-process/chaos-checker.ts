/**
 * The invariants of a chaos run (see chaos.ts), checked from what happened: every loader run
 * (from the workers' run logs), every worker SIGKILL and every Redis outage (from the parent),
 * and every caller's result. Pure functions, no Jest: chaos-checker.spec.ts shows on made-up
 * histories that each check catches what it should.
 */
import * as lib from '../../src';
import type { CallerResult, LoadRecord } from '../fixtures/load-worker.protocol';

/** Timestamps of different processes are compared with this tolerance (same host, ms clocks). */
export const CLOCK_SKEW_MS = 5;

/** A worker the parent SIGKILLed: its runs' leases end at `at`. */
export interface KillEvent {
  pid: number;
  at: number;
}

/**
 * A Redis outage: the server was SIGKILLed at `killedAt` (everything in it lost) and started again
 * at `restartedAt` (the moment the new process was spawned; no lease can be granted before).
 */
export interface RedisOutage {
  killedAt: number;
  restartedAt: number;
}

export interface CallerWithBudget {
  caller: CallerResult;
  /** The longest this caller may take (wait budget + load + stated slack), ms. */
  budgetMs: number;
}

export interface ChaosHistory {
  runs: LoadRecord[];
  kills: KillEvent[];
  outages: RedisOutage[];
  callers: CallerWithBudget[];
}

export interface ChaosVerdict {
  violations: string[];
  /** Failed callers by error name. */
  errorsByType: Record<string, number>;
  /** What ended each run's lease (see {@link validLease}): how often each rule applied. */
  leaseEnds: { end: number; processKilled: number; signalAborted: number; redisLost: number };
}

/**
 * Names of the library's typed errors (`LoadStatusError` and every exported subclass), plus the
 * fixture loader's own error: the only ways a caller may fail.
 */
export const TYPED_ERROR_NAMES: ReadonlySet<string> = new Set([
  ...Object.values(lib)
    .filter(
      (v): v is typeof lib.LoadStatusError =>
        typeof v === 'function' &&
        (v === lib.LoadStatusError || v.prototype instanceof lib.LoadStatusError),
    )
    .map((c) => c.name),
  'LoaderFailure',
]);

/**
 * The Redis incarnation that granted a run's lock, from its fencing token. The store seeds a
 * missing fencing counter from the Redis server's clock in microseconds and then adds 1 per
 * acquire (README, "Fencing tokens"), and a restarted Redis starts empty, so every token granted
 * by the incarnation started at `restartedAt` is at least `restartedAt` in µs, and every token of
 * an earlier incarnation is below it (at most a few hundred acquires per user per outage-free
 * stretch, against ≥ 10^5 µs of outage). Returns the index of the incarnation: 0 for the Redis
 * that was up when the chaos began, i for the one started at `outages[i - 1].restartedAt`.
 */
export function incarnationOf(fencingToken: number, outages: RedisOutage[]): number {
  let incarnation = 0;
  outages.forEach((o, i) => {
    if (fencingToken >= o.restartedAt * 1000) incarnation = i + 1;
  });
  return incarnation;
}

/**
 * When a run's lease stopped being valid: the earliest of its end, its process's SIGKILL, its
 * `ctx.signal` abort, and the SIGKILL of the Redis incarnation that granted it (state loss).
 * A run that started after its lease was already gone (e.g. its worker stalled past an outage)
 * gets `validUntil <= start`: it never held a valid lease.
 */
export function validLease(
  run: LoadRecord,
  kills: KillEvent[],
  outages: RedisOutage[],
): { from: number; until: number; endedBy: keyof ChaosVerdict['leaseEnds'] } {
  const ends: [number, keyof ChaosVerdict['leaseEnds']][] = [
    [run.end ?? Infinity, 'end'],
    [run.abortedAt ?? Infinity, 'signalAborted'],
  ];
  for (const k of kills) if (k.pid === run.pid) ends.push([k.at, 'processKilled']);
  if (run.fencingToken !== undefined) {
    const lostWith = outages[incarnationOf(run.fencingToken, outages)];
    if (lostWith) ends.push([lostWith.killedAt, 'redisLost']);
  }
  const [until, endedBy] = ends.reduce((a, b) => (b[0] < a[0] ? b : a));
  return { from: run.start, until, endedBy };
}

export function checkChaos(history: ChaosHistory): ChaosVerdict {
  const violations: string[] = [];
  const { runs, kills, outages, callers } = history;
  const describe = (r: LoadRecord): string =>
    `run ${r.id} (${r.worker}, token ${r.fencingToken}, ${Math.round(r.start)}..${r.end === undefined ? '?' : Math.round(r.end)}${r.abortedAt === undefined ? '' : `, aborted ${Math.round(r.abortedAt)} ${r.abortReason}`})`;

  // Every run ended, unless its process was killed.
  const killedPids = new Set(kills.map((k) => k.pid));
  for (const r of runs) {
    if (r.end === undefined && !killedPids.has(r.pid))
      violations.push(`never ended though its process was not killed: ${describe(r)}`);
    if (r.fencingToken === undefined)
      violations.push(`ran without a fencing token: ${describe(r)}`);
  }

  const leaseEnds: ChaosVerdict['leaseEnds'] = {
    end: 0,
    processKilled: 0,
    signalAborted: 0,
    redisLost: 0,
  };
  const byUser = new Map<string, LoadRecord[]>();
  for (const r of runs) byUser.set(r.userId, [...(byUser.get(r.userId) ?? []), r]);
  for (const [user, list] of byUser) {
    const sorted = [...list].sort((a, b) => a.start - b.start);
    const valid = sorted.map((r) => ({ run: r, lease: validLease(r, kills, outages) }));
    for (const v of valid) leaseEnds[v.lease.endedBy]++;
    // (a) No two runs of one user overlap while both held a valid lease.
    for (let i = 0; i < valid.length; i++) {
      for (let j = i + 1; j < valid.length; j++) {
        const a = valid[i];
        const b = valid[j];
        const overlap =
          Math.min(a.lease.until, b.lease.until) - Math.max(a.lease.from, b.lease.from);
        if (overlap > CLOCK_SKEW_MS)
          violations.push(
            `user ${user}: ${describe(a.run)} and ${describe(b.run)} both held a valid lease for ${Math.round(overlap)} ms`,
          );
      }
    }
    // (b) Fencing tokens increase in start order, among runs that held a valid lease when they
    // started (a run whose lease was lost before it began is a stale writer: the fencing token is
    // what lets storage reject it, so it may come late with an old token).
    const holders = valid.filter((v) => v.lease.until > v.run.start + CLOCK_SKEW_MS);
    for (let i = 1; i < holders.length; i++) {
      const prev = holders[i - 1].run;
      const next = holders[i].run;
      if (!(next.fencingToken! > prev.fencingToken!))
        violations.push(
          `user ${user}: fencing token did not increase in start order: ${describe(prev)} then ${describe(next)}`,
        );
    }
  }

  // (c) Every caller ended with a value or a typed error, within its budget.
  const errorsByType: Record<string, number> = {};
  for (const { caller: c, budgetMs } of callers) {
    if (!c.ok) {
      const name = c.errorName ?? 'unknown';
      errorsByType[name] = (errorsByType[name] ?? 0) + 1;
      if (!TYPED_ERROR_NAMES.has(name))
        violations.push(
          `caller of ${c.userId} in ${c.worker} failed with an untyped error: ${name}: ${c.errorMessage}`,
        );
    }
    if (c.ms > budgetMs)
      violations.push(
        `caller of ${c.userId} in ${c.worker} took ${Math.round(c.ms)} ms (budget ${budgetMs} ms)`,
      );
  }
  return { violations, errorsByType, leaseEnds };
}
