/**
 * The properties of a chaos run (see chaos.ts), judged from facts recorded where they happen:
 * every loader run with the lease it held (the workers' run logs: fencing token and incarnation
 * as the store reported them, every lease renewal, abort and end), every caller's result as its
 * worker reported it, and every fault the parent injected (SIGKILL, SIGSTOP/SIGCONT, Redis kill
 * and restart). Nothing is inferred from a token's size. Pure functions, no Jest:
 * chaos-checker.spec.ts feeds each property a violating history and its legal twin.
 *
 * Times are wall-clock ms. Each worker's clock was measured against the parent's at boot
 * ({@link WorkerClock}); its timestamps are corrected by that offset, and comparisons between two
 * processes allow the sum of their measured uncertainties — the clock bound, never a guess.
 */
import * as lib from '../../src';
import type { CallerResult, LoadRecord } from '../fixtures/load-worker.protocol';

/** A worker the parent SIGKILLed at `at`. */
export interface KillEvent {
  pid: number;
  at: number;
}

/** A worker the parent SIGSTOPped at `stoppedAt` and SIGCONTed at `resumedAt`. */
export interface StallEvent {
  pid: number;
  stoppedAt: number;
  resumedAt: number;
}

/** Redis SIGKILLed at `killedAt` (its state lost) and started again, empty, at `restartedAt`. */
export interface RedisOutage {
  killedAt: number;
  restartedAt: number;
}

/** A worker's clock against the parent's: `workerTime - offsetMs` is parent time, ± uncertainty. */
export interface WorkerClock {
  offsetMs: number;
  uncertaintyMs: number;
}

/** One run the parent sent to a worker, and what came back of its callers. */
export interface RequestRecord {
  pid: number;
  worker: string;
  runId: number;
  /** Callers the run asked for (users × callers per user; 0 if the worker never received it). */
  expected: number;
  /** Callers the worker reported, each as it ended. */
  reported: CallerResult[];
  /** The longest a caller may take (wait budget + commands + load + slack), ms. */
  budgetMs: number;
}

export interface ChaosSettings {
  /** The lease (`lockTtlMs`) the workers run with. */
  lockTtlMs: number;
  /**
   * After Redis lost its state, how long a holder of the old state may go on before it learns
   * (its first extension that reaches the new server, after its client reconnects): the bound on
   * an overlap across incarnations, and on the recovery window after a restart.
   */
  lossDetectionMs: number;
  /**
   * How long after its loader ended a load's finish may still write the flag when its caller
   * never reported the commit (the worker was killed, or the finish failed after it ran): the
   * finish rides an outage out for `outageGraceMs`, then one more command. Default 0.
   */
  finishWindowMs?: number;
  /**
   * A wait ends in LoadWaitTimeoutError only if outages (their heal included: on a topology the
   * new master has no replica to acknowledge a lock until the old one rejoins) left it less than
   * this much of its budget outside them: a lease, the longest load and slack. Undefined: a wait
   * timeout is never legal.
   */
  waitNeedsMs?: number;
}

export interface ChaosHistory {
  runs: LoadRecord[];
  requests: RequestRecord[];
  kills: KillEvent[];
  stalls: StallEvent[];
  outages: RedisOutage[];
  clocks: Record<number, WorkerClock>;
  settings: ChaosSettings;
}

/** Where a failed caller's interval fell. */
export type Phase = 'steady' | 'outage' | 'stall';

export interface ChaosVerdict {
  violations: string[];
  /** Failed callers by phase and error name. */
  errors: Record<Phase, Record<string, number>>;
  callers: { reported: number; killed: number; hung: number };
  /** Pairs of runs of one user whose leases overlapped across incarnations (after a state loss). */
  crossIncarnationOverlaps: { count: number; maxMs: number };
  /** Runs whose `ctx.signal` aborted because their lease was lost. */
  leaseLosses: number;
}

/** The library's typed errors (`LoadStatusError` and every exported subclass), plus the fixture's. */
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
 * A run's lease in parent time. The server granted it between `sentAt` (the acquire was sent)
 * and `from` (the worker saw the grant); it held until `until` (the earliest of its ends).
 */
export interface Lease {
  run: LoadRecord;
  sentAt: number;
  from: number;
  until: number;
  /** What ended it. */
  endedBy: 'end' | 'abort' | 'kill' | 'expiry';
  /** ± the worker's clock uncertainty. */
  uncertaintyMs: number;
}

/**
 * The interval in which a run held its lease: from the grant until the earliest of its end, its
 * signal's abort, its process's SIGKILL and the lease's own expiry (the last renewal the worker
 * logged, or the grant, plus the lease; a stalled holder's lease runs out while it sleeps). Each
 * bound is taken on the safe side: `from` no earlier than the grant, `until` no later than the
 * lease's real end, so an overlap the checker reports did happen.
 */
export function leaseOf(run: LoadRecord, history: Pick<ChaosHistory, 'kills' | 'clocks'>): Lease {
  const clock = history.clocks[run.pid] ?? { offsetMs: 0, uncertaintyMs: 0 };
  const t = (time: number): number => time - clock.offsetMs;
  const ends: Array<[number, Lease['endedBy']]> = [];
  if (run.end !== undefined) ends.push([t(run.end), 'end']);
  if (run.abortedAt !== undefined) ends.push([t(run.abortedAt), 'abort']);
  if (run.leaseEndsAt !== undefined) ends.push([t(run.leaseEndsAt), 'expiry']);
  for (const k of history.kills) if (k.pid === run.pid) ends.push([k.at, 'kill']);
  const [until, endedBy] = ends.reduce((a, b) => (b[0] < a[0] ? b : a), [Infinity, 'end'] as [
    number,
    Lease['endedBy'],
  ]);
  const from = t(run.acquiredAt ?? run.start);
  return {
    run,
    sentAt: t(run.grantSentAt ?? run.acquiredAt ?? run.start),
    from,
    until,
    endedBy,
    uncertaintyMs: clock.uncertaintyMs,
  };
}

/** True if some Redis outage lies between two moments (the state of the first was lost by the second). */
function outageBetween(outages: RedisOutage[], before: number, after: number): boolean {
  return outages.some((o) => o.killedAt >= before && o.restartedAt <= after);
}

const describeRun = (r: LoadRecord): string =>
  `run ${r.id} (${r.worker}, token ${r.fencingToken}, ${r.incarnation ?? 'no incarnation'}, ` +
  `${Math.round(r.start)}..${r.end === undefined ? '?' : Math.round(r.end)}` +
  `${r.abortedAt === undefined ? '' : `, aborted ${Math.round(r.abortedAt)} ${r.abortReason}`})`;

export function checkChaos(history: ChaosHistory): ChaosVerdict {
  const violations: string[] = [];
  const { runs, kills, stalls, outages, clocks, settings } = history;
  const toParent = (pid: number, time: number): number => time - (clocks[pid]?.offsetMs ?? 0);
  const unc = (pid: number): number => clocks[pid]?.uncertaintyMs ?? 0;
  const killedPids = new Set(kills.map((k) => k.pid));

  // Every run carries the facts the checker needs, and ended unless its process was killed.
  for (const r of runs) {
    if (r.fencingToken === undefined || r.incarnation === undefined)
      violations.push(`ran without a reported lease (token, incarnation): ${describeRun(r)}`);
    if (r.end === undefined && !killedPids.has(r.pid))
      violations.push(`never ended though its process was not killed: ${describeRun(r)}`);
  }

  let crossCount = 0;
  let crossMax = 0;
  const byUser = new Map<string, LoadRecord[]>();
  for (const r of runs) byUser.set(r.userId, [...(byUser.get(r.userId) ?? []), r]);
  for (const [user, list] of byUser) {
    const leases = list
      .filter((r) => r.fencingToken !== undefined && r.incarnation !== undefined)
      .map((r) => leaseOf(r, history))
      .sort((a, b) => a.from - b.from);
    for (let i = 0; i < leases.length; i++) {
      for (let j = i + 1; j < leases.length; j++) {
        const a = leases[i];
        const b = leases[j];
        const tolerance = a.uncertaintyMs + b.uncertaintyMs;
        // Both held their lease at once: after the later grant, before the earlier end.
        const overlap = Math.min(a.until, b.until) - Math.max(a.from, b.from);
        // (1) Exclusion: two leases of one incarnation of the lock state never overlap.
        if (a.run.incarnation === b.run.incarnation) {
          if (overlap > tolerance)
            violations.push(
              `user ${user}: ${describeRun(a.run)} and ${describeRun(b.run)} held leases of one incarnation at once for ${overlap.toFixed(1)} ms`,
            );
        } else {
          // (2) Continuity: a new incarnation appears only after Redis lost the old one, and a
          // holder of the old state overlaps the new one only until it can learn of the loss.
          // The old grant was made by the server at some point after it was sent (its reply may
          // come back after the kill), the new one before its reply came.
          if (!outageBetween(outages, a.sentAt - tolerance, b.from + tolerance))
            violations.push(
              `user ${user}: incarnation changed from ${a.run.incarnation} to ${b.run.incarnation} without a Redis state loss in between (${describeRun(a.run)}, then ${describeRun(b.run)})`,
            );
          if (overlap > tolerance) {
            // How long the holder of the lost state went on once the new one was granted.
            const staleMs = a.until - b.from;
            crossCount++;
            crossMax = Math.max(crossMax, staleMs);
            if (staleMs > settings.lossDetectionMs + tolerance)
              violations.push(
                `user ${user}: ${describeRun(a.run)} went on ${staleMs.toFixed(0)} ms under a lost lock state while ${describeRun(b.run)} held the new one (bound ${settings.lossDetectionMs} ms)`,
              );
          }
        }
        // (3) Fencing: tokens increase with the order in which leases were granted, across
        // every pair, incarnations included (a stale writer is rejected by its older token).
        // A was surely granted first when it was seen granted before B's acquire was sent.
        if (b.sentAt - a.from > tolerance && !(b.run.fencingToken! > a.run.fencingToken!))
          violations.push(
            `user ${user}: fencing token did not increase: ${describeRun(a.run)} then ${describeRun(b.run)}`,
          );
      }
    }
  }

  // (4) No lost load: an 'already-loaded' / 'loaded-elsewhere' answer is backed by a successful
  // load of that user that ended before the answer and whose flag was still within its TTL (the
  // flag's TTL runs from its commit, which a finish riding out an outage may make late) when the
  // answer was read: as early as the start of the flight the caller shared (the library runs one
  // flight per user per process; the worker records when it began).
  const successes = runs.filter((r) => r.ok === true && r.end !== undefined);
  const callers = history.requests.flatMap((q) => q.reported);
  for (const c of callers)
    if (c.status !== undefined && c.flightStart === undefined)
      violations.push(
        `a caller of ${c.userId} in ${c.worker} answered without the start of its flight (${c.status} at ${Math.round(toParent(c.pid, c.start))})`,
      );
  for (const c of callers) {
    if (!c.ok || (c.status !== 'already-loaded' && c.status !== 'loaded-elsewhere')) continue;
    const start = toParent(c.pid, c.start);
    const asked = toParent(c.pid, c.flightStart ?? c.start);
    const end = toParent(c.pid, c.end);
    const backed = successes.some((r) => {
      const tol = unc(c.pid) + unc(r.pid);
      const loadEnd = toParent(r.pid, r.end!);
      // Without a reported commit, the flag may have been written as late as the finish window.
      const flagFrom = toParent(r.pid, r.committedAt ?? r.end! + (settings.finishWindowMs ?? 0));
      return (
        r.userId === c.userId &&
        loadEnd <= end + tol &&
        flagFrom + (r.loadedTtlMs ?? Infinity) >= asked - tol
      );
    });
    if (!backed)
      violations.push(
        `lost load: a caller of ${c.userId} in ${c.worker} was told ${c.status} at ${Math.round(start)}..${Math.round(end)}` +
          (asked < start ? ` (sharing a flight begun at ${Math.round(asked)})` : '') +
          ', but no load of that user had ended within its TTL',
      );
  }

  // (5) Once per TTL: after a committed load (its flag was written), no load of that user starts
  // from the same lock state before the flag ran out. The flag was written between the loader's
  // end and the reported commit (a finish riding out an outage writes it late), so it surely
  // stood from the commit until the end + its TTL: a grant sent after the one and seen before
  // the other broke the property; one sent before the commit may have found no flag yet.
  for (const [user, list] of byUser) {
    for (const first of list.filter((r) => r.committed && r.end !== undefined)) {
      const ttl = first.loadedTtlMs;
      if (ttl === undefined) continue;
      // Written at the loader's end at the earliest (so it ran out by end + TTL at the earliest).
      const flagFrom = toParent(first.pid, first.end!);
      const finishedBy = toParent(first.pid, first.committedAt ?? first.end!);
      // A finish that may have come after its lease ended (a stalled holder) leaves a flag of a
      // later load that is live then as it is, and writes its own only if there is none.
      const leaseEnd =
        first.leaseEndsAt === undefined ? Infinity : toParent(first.pid, first.leaseEndsAt);
      if (leaseEnd < finishedBy + unc(first.pid)) {
        const shadowed = list.some(
          (o) =>
            o !== first &&
            o.committed &&
            o.end !== undefined &&
            o.loadedTtlMs !== undefined &&
            o.incarnation === first.incarnation &&
            toParent(o.pid, o.end) <= finishedBy + unc(o.pid) + unc(first.pid) &&
            toParent(o.pid, o.committedAt ?? o.end) + o.loadedTtlMs >=
              flagFrom - unc(o.pid) - unc(first.pid),
        );
        if (shadowed) continue;
      }
      for (const next of list) {
        if (next === first || next.incarnation !== first.incarnation) continue;
        const tol = unc(first.pid) + unc(next.pid);
        // Its grant (which found no flag) came between these two.
        const sent = toParent(next.pid, next.grantSentAt ?? next.acquiredAt ?? next.start);
        const start = toParent(next.pid, next.acquiredAt ?? next.start);
        if (sent > finishedBy + tol && start < flagFrom + ttl - tol)
          violations.push(
            `user ${user}: loaded again ${Math.round(start - flagFrom)} ms after a committed load with a ${ttl} ms TTL (${describeRun(first)}, then ${describeRun(next)})`,
          );
      }
    }
  }

  // (6) Every caller accounted for: each one a run asked for reported, in budget, with a value
  // or a typed error; those of a SIGKILLed worker counted as killed, any other missing one hung.
  let killed = 0;
  let hung = 0;
  for (const q of history.requests) {
    const missing = q.expected - q.reported.length;
    if (missing < 0)
      violations.push(
        `${q.worker} run ${q.runId} reported ${q.reported.length} of ${q.expected} callers`,
      );
    if (missing > 0 && killedPids.has(q.pid)) killed += missing;
    else if (missing > 0) {
      hung += missing;
      violations.push(
        `${missing} caller(s) of ${q.worker} run ${q.runId} never ended (its process was not killed)`,
      );
    }
    for (const c of q.reported) {
      if (c.ms > q.budgetMs)
        violations.push(
          `caller of ${c.userId} in ${c.worker} took ${Math.round(c.ms)} ms (budget ${q.budgetMs} ms)`,
        );
    }
  }

  // (7) Error bounds per phase: while nothing is failing, only the injected loader failures;
  // LoadStatusUnavailableError only in an outage (or the recovery right after it);
  // LoadWaitTimeoutError only for a wait that outages left too little time to end;
  // LoadLeaseLostError only where a lease could be lost (a stall of that worker, an outage).
  const errors: ChaosVerdict['errors'] = { steady: {}, outage: {}, stall: {} };
  const recovery = settings.lossDetectionMs;
  for (const c of callers) {
    if (c.ok) continue;
    const name = c.errorName ?? 'unknown';
    const start = toParent(c.pid, c.start);
    const end = toParent(c.pid, c.end);
    const inOutage = outages.some((o) => start <= o.restartedAt + recovery && end >= o.killedAt);
    const inStall = stalls.some(
      (s) => s.pid === c.pid && start <= s.resumedAt + recovery && end >= s.stoppedAt,
    );
    const phase: Phase = inOutage ? 'outage' : inStall ? 'stall' : 'steady';
    errors[phase][name] = (errors[phase][name] ?? 0) + 1;
    // The part of the caller's time that outages covered (they never overlap each other).
    const covered = outages.reduce(
      (sum, o) => sum + Math.max(0, Math.min(end, o.restartedAt) - Math.max(start, o.killedAt)),
      0,
    );
    const allowed =
      name === 'LoaderFailure' ||
      (name === 'LoadWaitTimeoutError' &&
        settings.waitNeedsMs !== undefined &&
        end - start - covered < settings.waitNeedsMs) ||
      (name === 'LoadStatusUnavailableError' && inOutage) ||
      (name === 'LoadLeaseLostError' && (inOutage || inStall));
    if (!TYPED_ERROR_NAMES.has(name))
      violations.push(
        `caller of ${c.userId} in ${c.worker} failed with an untyped error: ${name}: ${c.errorMessage}`,
      );
    else if (!allowed)
      violations.push(
        `caller of ${c.userId} in ${c.worker} failed with ${name} in a ${phase} phase (${Math.round(start)}..${Math.round(end)}): ${c.errorMessage}`,
      );
  }
  const leaseLosses = runs.filter((r) => r.abortReason === 'LoadLeaseLostError').length;
  return {
    violations,
    errors,
    callers: { reported: callers.length, killed, hung },
    crossIncarnationOverlaps: { count: crossCount, maxMs: Math.round(crossMax) },
    leaseLosses,
  };
}
