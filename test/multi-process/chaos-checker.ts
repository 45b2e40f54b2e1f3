/**
 * The properties of a chaos run (see chaos.ts), judged from facts recorded where they happen:
 * every loader run with the lease it held (the workers' run logs: fencing token and incarnation
 * as the store reported them, every lease renewal, abort, loss and end), what each worker's
 * store said of Redis, every caller's result as its worker reported it, and every fault the
 * parent injected (SIGKILL, SIGSTOP/SIGCONT, Redis kill and restart or failover, with times
 * taken from the servers). Nothing is inferred from a token's size; a fact a rule needs and the
 * history lacks is a violation, never a zero. Pure functions, no Jest: chaos-checker.spec.ts
 * feeds each rule a violating history and its legal twin.
 *
 * The rules live by subject: chaos-leases.ts (leases and faults), chaos-loads.ts (flags),
 * chaos-callers.ts (callers and errors); chaos-history.ts holds the history and its clock.
 */
import { checkCallers, type CallerFindings } from './chaos-callers';
import { HistoryView, type ChaosHistory } from './chaos-history';
import { checkLeases, type LeaseFindings } from './chaos-leases';
import { checkLoads } from './chaos-loads';

export { TYPED_ERROR_NAMES, type Phase, type PhaseFigures } from './chaos-callers';
export * from './chaos-history';

export interface ChaosVerdict extends LeaseFindings, CallerFindings {
  violations: string[];
}

export function checkChaos(history: ChaosHistory): ChaosVerdict {
  const violations: string[] = [];
  const view = new HistoryView(history);
  const leases = checkLeases(view, violations);
  checkLoads(view, violations);
  const callers = checkCallers(view, violations);
  for (const fact of view.missing) violations.push(`missing fact: ${fact}`);
  return { violations, ...leases, ...callers };
}

/** A run's lease in parent time (see `HistoryView.leaseOf`). */
export function leaseOf(
  run: ChaosHistory['runs'][number],
  history: Pick<ChaosHistory, 'kills' | 'clocks'>,
) {
  return new HistoryView({
    runs: [],
    requests: [],
    stalls: [],
    outages: [],
    storeEvents: [],
    settings: undefined as never,
    ...history,
  }).leaseOf(run);
}
