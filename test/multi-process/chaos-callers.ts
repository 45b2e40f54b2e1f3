/**
 * The chaos checker's rules on callers (see chaos-checker.ts): every caller accounted for, and
 * every error one that a documented policy allows where it happened.
 *
 * The policies, and so the error bounds per phase (the phase of a caller is where its interval
 * fell): steady — none but the injected loader failures, each matched to the failed loader run
 * of its flight; outage and recovery (`onStoreError: 'fail-closed'`) — `LoadStatusUnavailableError`
 * for a caller of a touched user while its worker's store could not reach Redis (a `store-error`
 * it emitted then), but never for a caller that was already waiting or holding when the outage
 * began, before `outageGraceMs` ran out; stall — `LoadLeaseLostError` for the flight whose loader
 * lost its lease; any phase — `LoadWaitTimeoutError` only where outages left the wait too little
 * time. A worker's store says Redis is unreachable only during an outage and its reconnect.
 */
import * as lib from '../../src';
import type { CallerResult } from '../fixtures/load-worker.protocol';
import type { HistoryView, RedisOutage } from './chaos-history';

/** Where a caller's interval fell. */
export type Phase = 'steady' | 'outage' | 'recovery' | 'stall';

export interface PhaseFigures {
  callers: number;
  failed: number;
  /** Failed callers by error name. */
  errors: Record<string, number>;
}

export interface CallerFindings {
  phases: Record<Phase, PhaseFigures>;
  callers: { reported: number; killed: number; hung: number };
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

const servingAgain = (o: RedisOutage): number => o.healedAt ?? o.restartedAt;

/** Every caller a run asked for reported, in budget; those of a worker killed meanwhile are killed. */
function checkAccounted(view: HistoryView, violations: string[]): CallerFindings['callers'] {
  let killed = 0;
  let hung = 0;
  for (const q of view.history.requests) {
    const missing = q.expected - q.reported.length;
    if (missing < 0)
      violations.push(
        `${q.worker} run ${q.runId} reported ${q.reported.length} of ${q.expected} callers`,
      );
    const killedAt = view.killOf(q.pid);
    // A caller ends within its budget: one still out when its worker was killed later had hung.
    if (missing > 0 && killedAt !== undefined && killedAt <= q.sentAt + q.budgetMs)
      killed += missing;
    else if (missing > 0) {
      hung += missing;
      violations.push(
        `${missing} caller(s) of ${q.worker} run ${q.runId} never ended` +
          (killedAt === undefined
            ? ' (its process was not killed)'
            : ` (its process was killed ${Math.round(killedAt - q.sentAt - q.budgetMs)} ms past their budget)`),
      );
    }
    for (const c of q.reported)
      if (c.ms > q.budgetMs)
        violations.push(
          `caller of ${c.userId} in ${c.worker} took ${Math.round(c.ms)} ms (budget ${q.budgetMs} ms)`,
        );
  }
  return { reported: view.callers().length, killed, hung };
}

/** Each `store-error` a worker emitted came during an outage or the reconnect after it. */
function checkStoreEvents(view: HistoryView, violations: string[]): void {
  const { reconnectMs } = view.settings;
  for (const e of view.history.storeEvents) {
    if (e.kind === 'recovered') continue;
    const at = view.t(e.pid, e.at);
    const tol = view.unc(e.pid);
    const explained =
      e.kind === 'unreachable' &&
      view.history.outages.some(
        (o) => o.killedAt - tol <= at && at <= servingAgain(o) + reconnectMs + tol,
      );
    if (!explained)
      violations.push(
        `${e.worker}'s store found Redis ${e.kind} at ${Math.round(at)}, outside every outage and its reconnect (${reconnectMs} ms)`,
      );
  }
}

function phaseOf(view: HistoryView, c: CallerResult, start: number, end: number): Phase {
  const { reconnectMs, noticeMs } = view.settings;
  const outages = view.outagesOf(c.userId);
  if (outages.some((o) => start <= o.restartedAt && end >= o.killedAt)) return 'outage';
  if (outages.some((o) => start <= servingAgain(o) + reconnectMs && end >= o.restartedAt))
    return 'recovery';
  if (
    view.history.stalls.some(
      (s) => s.pid === c.pid && start <= s.resumedAt + noticeMs && end >= s.stoppedAt,
    )
  )
    return 'stall';
  return 'steady';
}

/** Why a failed caller's error is allowed where it happened, or why not. */
function judgeError(
  view: HistoryView,
  c: CallerResult,
  name: string,
  [asked, start, end]: [number, number, number],
): string | undefined {
  const { commandTimeoutMs, outageGraceMs, reconnectMs, waitNeedsMs } = view.settings;
  const tol = view.unc(c.pid);
  // The loader run of this caller's flight (same process, user, within the flight).
  const flightRun = (match: (r: (typeof view.history.runs)[number]) => boolean): boolean =>
    view.history.runs.some(
      (r) =>
        r.pid === c.pid &&
        r.userId === c.userId &&
        r.end !== undefined &&
        view.t(r.pid, r.start) >= asked &&
        view.t(r.pid, r.end) <= end &&
        match(r),
    );
  const outages = view.outagesOf(c.userId);
  switch (name) {
    case 'LoaderFailure':
      return flightRun((r) => r.ok === false && r.abortedAt === undefined)
        ? undefined
        : 'no loader run of its flight failed';
    case 'LoadLeaseLostError':
      return flightRun((r) => r.abortReason === 'LoadLeaseLostError')
        ? undefined
        : 'no loader run of its flight lost its lease';
    case 'LoadStatusUnavailableError': {
      const touched = outages.find(
        (o) => start <= servingAgain(o) + reconnectMs && end >= o.killedAt - tol,
      );
      if (!touched) return 'no outage touched its user';
      const saidSo = view.history.storeEvents.some(
        (e) =>
          e.pid === c.pid &&
          e.kind === 'unreachable' &&
          view.t(e.pid, e.at) >= start - tol &&
          view.t(e.pid, e.at) <= end + tol,
      );
      if (!saidSo) return 'its worker never found Redis unreachable while it ran';
      // Past its first command when the outage began: waiting or holding, so riding it out.
      const rideOut = outages.find(
        (o) => start < o.killedAt - commandTimeoutMs - tol && end >= o.killedAt,
      );
      if (rideOut && end < rideOut.killedAt + outageGraceMs - tol)
        return `it was under way when the outage began at ${Math.round(rideOut.killedAt)} and failed ${Math.round(end - rideOut.killedAt)} ms into it, inside outageGraceMs (${outageGraceMs} ms)`;
      return undefined;
    }
    case 'LoadWaitTimeoutError': {
      // The part of the caller's time that outages of its user covered (heals included).
      const covered = outages.reduce(
        (sum, o) => sum + Math.max(0, Math.min(end, servingAgain(o)) - Math.max(start, o.killedAt)),
        0,
      );
      return waitNeedsMs !== undefined && end - start - covered < waitNeedsMs
        ? undefined
        : `outages left it ${Math.round(end - start - covered)} ms, enough to end a wait`;
    }
    default:
      return 'no fault of this run explains it';
  }
}

export function checkCallers(view: HistoryView, violations: string[]): CallerFindings {
  const callers = checkAccounted(view, violations);
  checkStoreEvents(view, violations);
  const empty = (): PhaseFigures => ({ callers: 0, failed: 0, errors: {} });
  const phases: Record<Phase, PhaseFigures> = {
    steady: empty(),
    outage: empty(),
    recovery: empty(),
    stall: empty(),
  };
  for (const c of view.callers()) {
    const start = view.t(c.pid, c.start);
    const end = view.t(c.pid, c.end);
    const phase = phaseOf(view, c, start, end);
    const figures = phases[phase];
    figures.callers++;
    if (c.ok) continue;
    const name = c.errorName ?? 'unknown';
    figures.failed++;
    figures.errors[name] = (figures.errors[name] ?? 0) + 1;
    const asked = view.t(c.pid, c.flightStart ?? c.start);
    const why = TYPED_ERROR_NAMES.has(name)
      ? judgeError(view, c, name, [asked, start, end])
      : 'it is not a typed error';
    if (why !== undefined)
      violations.push(
        `caller of ${c.userId} in ${c.worker} failed with ${name} in a ${phase} phase (${Math.round(start)}..${Math.round(end)}): ${why}: ${c.errorMessage}`,
      );
  }
  // The steady phase's bound: the injected loader failures, and nothing else (judged above).
  const { loaderFailRate } = view.settings;
  const steady = phases.steady;
  const loaderFailures = steady.errors.LoaderFailure ?? 0;
  if (
    loaderFailRate !== undefined &&
    steady.callers >= MIN_CALLERS_FOR_A_RATE &&
    loaderFailures > 2 * loaderFailRate * steady.callers
  )
    violations.push(
      `${loaderFailures} of ${steady.callers} callers failed with LoaderFailure in the steady phase, above twice the injected rate (${loaderFailRate})`,
    );
  return { phases, callers };
}

/** Below this many callers, a share says too little to bound. */
const MIN_CALLERS_FOR_A_RATE = 100;
