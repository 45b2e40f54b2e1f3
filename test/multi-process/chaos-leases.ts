/**
 * The chaos checker's rules on leases (see chaos-checker.ts): each run's lease facts, exclusion
 * within one lock state, incarnations that change only across a loss and never survive one,
 * fencing order, holders that outlive their lease, lease losses a fault explains, and faults
 * that did what they were injected to do (kills mid-load, stalls that cost their holder its lease).
 */
import type { LoadRecord } from '../fixtures/load-worker.protocol';
import { describeRun, type HistoryView, type Lease } from './chaos-history';

export interface LeaseFindings {
  /** Pairs of runs of one user whose leases overlapped across incarnations (after a state loss). */
  crossIncarnationOverlaps: { count: number; maxMs: number };
  /** Runs the library told their lease was lost (a renewal or the finish found the lock gone). */
  leaseLosses: number;
  /** Kills that caught their worker in a loader run. */
  killsMidLoad: number;
  /** Stalls whose frozen holder lost its lease for it. */
  stallsTied: number;
}

const LEASE_FACTS = [
  'fencingToken',
  'incarnation',
  'grantSentAt',
  'acquiredAt',
  'leaseEndsAt',
  'loadedTtlMs',
] as const;

const leaseLostAt = (view: HistoryView, r: LoadRecord): number | undefined => {
  const times = [r.leaseLostAt, r.abortReason === 'LoadLeaseLostError' ? r.abortedAt : undefined]
    .filter((x): x is number => x !== undefined)
    .map((x) => view.t(r.pid, x));
  return times.length === 0 ? undefined : Math.min(...times);
};

/** The facts every run must carry, and that they make sense together. */
function checkFacts(view: HistoryView, violations: string[]): LoadRecord[] {
  const sound: LoadRecord[] = [];
  for (const r of view.history.runs) {
    const missing = LEASE_FACTS.filter((f) => r[f] === undefined);
    if (missing.length > 0) {
      violations.push(`ran without its lease facts (${missing.join(', ')}): ${describeRun(r)}`);
      continue;
    }
    if (r.end === undefined && view.killOf(r.pid) === undefined)
      violations.push(`never ended though its process was not killed: ${describeRun(r)}`);
    const order: Array<[string, number, string, number]> = [
      ['sent its acquire', r.grantSentAt!, 'saw the grant', r.acquiredAt!],
      ['saw the grant', r.acquiredAt!, 'started its loader', r.start],
      ['started its loader', r.start, 'its lease ended', r.leaseEndsAt!],
      ['started its loader', r.start, 'ended it', r.end ?? Infinity],
    ];
    const broken = order.find(([, a, , b]) => a > b);
    if (broken)
      violations.push(
        `${broken[2]} before it ${broken[0]} (${Math.round(broken[1])} > ${Math.round(broken[3])}): ${describeRun(r)}`,
      );
    else sound.push(r);
  }
  return sound;
}

/** Exclusion, continuity, fencing and incarnations across a state loss, for every pair of one user. */
function checkPairs(view: HistoryView, runs: LoadRecord[], violations: string[]) {
  let count = 0;
  let maxMs = 0;
  const byUser = new Map<string, Lease[]>();
  for (const r of runs) byUser.set(r.userId, [...(byUser.get(r.userId) ?? []), view.leaseOf(r)]);
  for (const [user, list] of byUser) {
    const outages = view.outagesOf(user);
    const leases = list.sort((a, b) => a.from - b.from);
    for (let i = 0; i < leases.length; i++) {
      for (let j = i + 1; j < leases.length; j++) {
        const [a, b] = [leases[i], leases[j]];
        const tol = a.uncertaintyMs + b.uncertaintyMs;
        const pair = `${describeRun(a.run)} and ${describeRun(b.run)}`;
        // Both held their lease at once: after the later grant, before the earlier end.
        const overlap = Math.min(a.until, b.until) - Math.max(a.from, b.from);
        // An outage that A's grant surely came before and B's surely came after (by the server
        // that served after it: B's acquire was sent after the kill, or its reply came after).
        const between = outages.filter(
          (o) =>
            a.from + tol < o.killedAt && (b.sentAt > o.killedAt + tol || b.from > o.restartedAt),
        );
        if (a.run.incarnation === b.run.incarnation) {
          // Exclusion: two leases of one incarnation of the lock state never overlap.
          if (overlap > tol)
            violations.push(
              `user ${user}: ${pair} held leases of one incarnation at once for ${overlap.toFixed(1)} ms`,
            );
          // An incarnation names one continuous lock state: it cannot outlive Redis's data.
          const loss = between.find((o) => o.stateLost);
          if (loss)
            violations.push(
              `user ${user}: incarnation ${a.run.incarnation} granted ${pair} on both sides of the restart at ${Math.round(loss.killedAt)} that emptied Redis`,
            );
        } else {
          // Continuity: a new incarnation appears only after Redis lost the old one. The old
          // grant was made at some point after it was sent, the new one before its reply came
          // (perhaps before the parent saw the restart through: `restartedAt` is when it did).
          if (!outages.some((o) => o.killedAt >= a.sentAt - tol && o.killedAt <= b.from + tol))
            violations.push(
              `user ${user}: incarnation changed from ${a.run.incarnation} to ${b.run.incarnation} without a Redis state loss in between (${describeRun(a.run)}, then ${describeRun(b.run)})`,
            );
          if (overlap > tol) {
            // How long the holder of the lost state went on once the new one was granted.
            const staleMs = a.until - b.from;
            count++;
            maxMs = Math.max(maxMs, staleMs);
            if (staleMs > view.settings.lossDetectionMs + tol)
              violations.push(
                `user ${user}: ${describeRun(a.run)} went on ${staleMs.toFixed(0)} ms under a lost lock state while ${describeRun(b.run)} held the new one (bound ${view.settings.lossDetectionMs} ms)`,
              );
          }
        }
        // Fencing: tokens increase with the order in which leases were granted, across every
        // pair, incarnations included (a stale writer is rejected by its older token). A was
        // surely granted first when it was seen granted before B's acquire was sent, or before
        // an outage that B's grant surely came after.
        const aFirst = b.sentAt - a.from > tol || between.length > 0;
        if (aFirst && !(b.run.fencingToken! > a.run.fencingToken!))
          violations.push(
            `user ${user}: fencing token did not increase: ${describeRun(a.run)} then ${describeRun(b.run)}`,
          );
      }
    }
  }
  return { count, maxMs: Math.round(maxMs) };
}

/**
 * A run that outlived its lease must be told: once its process can run again (a stall over),
 * its next renewal finds the lock gone and aborts its signal, within `noticeMs`; a renewal that
 * cannot reach Redis waits for the outage to end (`lossDetectionMs`). A run whose loader ends
 * before it could be told is legal; one that goes on is not. And a renewal cannot succeed on a
 * server that lost the lock: no lease granted before a restart that emptied Redis ends later
 * than a lease past the kill.
 */
function checkOutlived(view: HistoryView, runs: LoadRecord[], violations: string[]): void {
  const { noticeMs, lossDetectionMs, reconnectMs, lockTtlMs } = view.settings;
  for (const r of runs) {
    const tol = view.unc(r.pid);
    const leaseEnd = view.t(r.pid, r.leaseEndsAt!);
    const from = view.t(r.pid, r.acquiredAt!);
    for (const o of view.outagesOf(r.userId))
      if (o.stateLost && from + tol < o.killedAt && leaseEnd > o.killedAt + lockTtlMs + tol)
        violations.push(
          `${describeRun(r)} renewed its lease to ${Math.round(leaseEnd)} on a Redis that lost it at ${Math.round(o.killedAt)}`,
        );
    const killed = view.killOf(r.pid);
    const ended = Math.min(
      r.end === undefined ? Infinity : view.t(r.pid, r.end),
      killed ?? Infinity,
    );
    // (A run that never ended in a live process is flagged as such.)
    if (ended <= leaseEnd + tol || ended === Infinity) continue;
    let noticeBy = leaseEnd + noticeMs;
    const faults = [
      ...view.history.stalls
        .filter((s) => s.pid === r.pid)
        .map((s) => ({ from: s.stoppedAt, to: s.resumedAt, then: noticeMs })),
      ...view
        .outagesOf(r.userId)
        .map((o) => ({ from: o.killedAt, to: o.healedAt ?? o.restartedAt, then: lossDetectionMs })),
    ].sort((a, b) => a.from - b.from);
    for (const f of faults)
      if (f.from <= noticeBy && f.to + reconnectMs >= leaseEnd)
        noticeBy = Math.max(noticeBy, f.to + f.then);
    const stopped = Math.min(
      ended,
      r.abortedAt === undefined ? Infinity : view.t(r.pid, r.abortedAt),
    );
    if (stopped > noticeBy + tol)
      violations.push(
        `${describeRun(r)} went on ${Math.round(stopped - leaseEnd)} ms past its lease (ended ${Math.round(leaseEnd)}) without its signal aborting by ${Math.round(noticeBy)}`,
      );
  }
}

/**
 * Every lease loss has a fault behind it (its lease ran out while its process was stalled, or
 * an outage of its user came while it held it); every kill caught a loader run; every stall cost
 * its frozen holder the lease.
 */
function checkFaultEffects(view: HistoryView, runs: LoadRecord[], violations: string[]) {
  let leaseLosses = 0;
  for (const r of runs) {
    const lostAt = leaseLostAt(view, r);
    if (lostAt === undefined) continue;
    leaseLosses++;
    const tol = view.unc(r.pid);
    const leaseEnd = view.t(r.pid, r.leaseEndsAt!);
    const from = view.t(r.pid, r.acquiredAt!);
    const stalled = view.history.stalls.some(
      (s) => s.pid === r.pid && s.stoppedAt <= leaseEnd + tol && leaseEnd - tol <= s.resumedAt,
    );
    const outage = view
      .outagesOf(r.userId)
      .some((o) => o.killedAt <= lostAt + tol && (o.healedAt ?? o.restartedAt) >= from - tol);
    if (!stalled && !outage)
      violations.push(
        `${describeRun(r)} lost its lease at ${Math.round(lostAt)} while Redis was up and its process ran`,
      );
  }
  let killsMidLoad = 0;
  for (const k of view.history.kills) {
    const midLoad = view.history.runs.some(
      (r) =>
        r.pid === k.pid &&
        view.t(r.pid, r.start) <= k.at &&
        (r.end === undefined || view.t(r.pid, r.end) > k.at),
    );
    if (midLoad) killsMidLoad++;
    else violations.push(`the SIGKILL of pid ${k.pid} at ${Math.round(k.at)} caught no loader run`);
  }
  let stallsTied = 0;
  for (const s of view.history.stalls) {
    const tied = view.history.runs.some((r) => {
      if (r.pid !== s.pid || r.leaseEndsAt === undefined) return false;
      const tol = view.unc(r.pid);
      const leaseEnd = view.t(r.pid, r.leaseEndsAt);
      const lostAt = leaseLostAt(view, r);
      return (
        leaseEnd >= s.stoppedAt - tol &&
        leaseEnd <= s.resumedAt + tol &&
        lostAt !== undefined &&
        lostAt <= s.resumedAt + view.settings.noticeMs + tol
      );
    });
    if (tied) stallsTied++;
    else
      violations.push(
        `the stall of pid ${s.pid} (${Math.round(s.stoppedAt)}..${Math.round(s.resumedAt)}) cost no holder its lease`,
      );
  }
  return { leaseLosses, killsMidLoad, stallsTied };
}

export function checkLeases(view: HistoryView, violations: string[]): LeaseFindings {
  const runs = checkFacts(view, violations);
  const crossIncarnationOverlaps = checkPairs(view, runs, violations);
  checkOutlived(view, runs, violations);
  return { crossIncarnationOverlaps, ...checkFaultEffects(view, runs, violations) };
}
