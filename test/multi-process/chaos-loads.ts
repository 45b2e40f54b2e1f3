/**
 * The chaos checker's rules on flags (see chaos-checker.ts): every answer that a user is loaded
 * is backed by a load whose flag could still be read then, and no user is loaded twice while a
 * flag surely stood.
 *
 * A flag is modelled from its writes (see `HistoryView.writeOf`): a finish whose lease was still
 * its own sets the flag with its TTL, overwriting one that stood (the freshest load's TTL is the
 * flag's); a finish whose lease was lost sets it only if none stands. A restart that emptied
 * Redis loses every flag written before it; a failover may lose those not yet replicated.
 */
import type { LoadRecord } from '../fixtures/load-worker.protocol';
import { describeRun, type FlagWrite, type HistoryView } from './chaos-history';

/** A finish that may have found its lock no longer its own (it then sets only a missing flag). */
const mayHaveLostLock = (view: HistoryView, w: FlagWrite): boolean =>
  w.run.leaseLostAt !== undefined ||
  w.run.leaseEndsAt === undefined ||
  view.t(w.run.pid, w.run.leaseEndsAt) < w.to + view.unc(w.run.pid);

/** A finish that may have set the flag over one that stood (its lock was its own). */
const mayOverwrite = (w: FlagWrite): boolean => w.run.leaseLostAt === undefined;

/**
 * No lost load: an 'already-loaded' / 'loaded-elsewhere' answer is backed by a successful load
 * of that user written before the answer came back, whose flag was still within its TTL when the
 * answer was read (as early as the start of the flight the caller shared: the library runs one
 * flight per user per process), and not lost with Redis's data in between. A 'loaded' answer is
 * backed by the loader run of its own flight, which committed.
 */
function checkAnswers(view: HistoryView, writes: FlagWrite[], violations: string[]): void {
  const callers = view.callers();
  for (const c of callers) {
    if (c.ok && c.status === undefined)
      violations.push(
        `a caller of ${c.userId} in ${c.worker} succeeded without a status (at ${Math.round(view.t(c.pid, c.start))})`,
      );
    if (c.status !== undefined && c.flightStart === undefined)
      violations.push(
        `a caller of ${c.userId} in ${c.worker} answered without the start of its flight (${c.status} at ${Math.round(view.t(c.pid, c.start))})`,
      );
  }
  for (const c of callers) {
    if (!c.ok || c.status === undefined) continue;
    const start = view.t(c.pid, c.start);
    const asked = view.t(c.pid, c.flightStart ?? c.start);
    const end = view.t(c.pid, c.end);
    if (c.status === 'loaded') {
      const own = view.history.runs.some(
        (r) =>
          r.pid === c.pid &&
          r.userId === c.userId &&
          r.ok === true &&
          r.committed === true &&
          r.end !== undefined &&
          view.t(r.pid, r.start) >= asked &&
          view.t(r.pid, r.end) <= end,
      );
      if (!own)
        violations.push(
          `a caller of ${c.userId} in ${c.worker} was told loaded at ${Math.round(start)}..${Math.round(end)}, but no loader run of its flight committed`,
        );
      continue;
    }
    const backed = writes.some((w) => {
      const tol = view.unc(c.pid) + view.unc(w.run.pid);
      return (
        w.run.userId === c.userId &&
        w.from <= end + tol &&
        w.to + w.ttlMs >= asked - tol &&
        !view
          .outagesOf(c.userId)
          .some((o) => o.stateLost && o.killedAt > w.to + tol && o.restartedAt < asked - tol)
      );
    });
    if (!backed)
      violations.push(
        `lost load: a caller of ${c.userId} in ${c.worker} was told ${c.status} at ${Math.round(start)}..${Math.round(end)}` +
          (asked < start ? ` (sharing a flight begun at ${Math.round(asked)})` : '') +
          ', but no load of that user had ended within its TTL',
      );
  }
}

/**
 * Once per TTL: no load of a user is granted while a flag surely stood. The flag of `first`
 * surely stood from its write (by `to`) until its TTL ran out counted from the earliest the
 * write could be (`from`), unless a later finish that owned its lock overwrote it with a TTL
 * that ends sooner, or an outage lost it. A grant sent after it stood and seen before it could
 * end found it, so broke the property.
 */
function checkOncePerTtl(view: HistoryView, writes: FlagWrite[], violations: string[]): void {
  for (const first of writes) {
    if (first.run.committed !== true) continue;
    const user = first.run.userId;
    const others = writes.filter((w) => w !== first && w.run.userId === user);
    // A finish that lost its lock sets no flag over a live one: a flag that may have stood at its
    // write is judged as its own write.
    if (
      mayHaveLostLock(view, first) &&
      others.some(
        (o) =>
          o.from <= first.to + view.unc(o.run.pid) + view.unc(first.run.pid) &&
          o.to + o.ttlMs >= first.from &&
          !view.lostBetween(user, o.from, first.to, true),
      )
    )
      continue;
    for (const next of view.history.runs) {
      if (next === first.run || next.userId !== user || next.grantSentAt === undefined) continue;
      const tol = view.unc(first.run.pid) + view.unc(next.pid);
      const sent = view.t(next.pid, next.grantSentAt);
      const seen = view.t(next.pid, next.acquiredAt ?? next.start);
      if (sent <= first.to + tol) continue;
      // An outage after the write may have lost the flag (a failover: one not replicated yet).
      if (view.lostBetween(user, first.from - tol, seen + tol, true)) continue;
      let endsBy = first.from + first.ttlMs;
      for (const o of others)
        if (mayOverwrite(o) && o.to >= first.from - tol && o.from < seen)
          endsBy = Math.min(endsBy, o.from + o.ttlMs);
      if (seen < endsBy - tol)
        violations.push(
          `user ${user}: loaded again ${Math.round(seen - first.from)} ms after a committed load with a ${first.ttlMs} ms TTL (${describeRun(first.run)}, then ${describeRun(next)})`,
        );
    }
  }
}

export function checkLoads(view: HistoryView, violations: string[]): void {
  const writes = view.history.runs
    .map((r: LoadRecord) => view.writeOf(r))
    .filter((w): w is FlagWrite => w !== undefined);
  checkAnswers(view, writes, violations);
  checkOncePerTtl(view, writes, violations);
}
