/**
 * What a chaos run records (see chaos.ts), and the one view of it the checker's rules share: every
 * time in the parent's clock, which outages touched a user, when a load may have written its
 * flag, when a lease was held. Facts the rules need and the history lacks are reported, never
 * read as zeros (see {@link HistoryView.missing}).
 *
 * Times are wall-clock ms. Each worker's clock was measured against the parent's at boot
 * ({@link WorkerClock}); its timestamps are corrected by that offset, and comparisons between two
 * processes allow the sum of their measured uncertainties — the clock bound, never a guess.
 */
import type { CallerResult, LoadRecord, StoreEventRecord } from '../fixtures/load-worker.protocol';

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

/**
 * Redis (a standalone server, or a topology's master) SIGKILLed at `killedAt`; serving again at
 * `restartedAt` (the restarted server answered, or the parent saw a replica promoted).
 */
export interface RedisOutage {
  killedAt: number;
  restartedAt: number;
  /** A topology: the killed node is back as a replica (until then no lock is replica-acknowledged). */
  healedAt?: number;
  /** Redis came back empty (a standalone restart): every key, lock state included, was lost. */
  stateLost: boolean;
  /** The failed master's hash slots (a Cluster): users in other slots were not touched. */
  slots?: Array<[number, number]>;
  /**
   * With `slots`: until `restartedAt` every slot was refused (a Cluster that requires full
   * coverage answers CLUSTERDOWN while any slot is unserved); only the heal touches `slots` alone.
   */
  everySlotUntilRestart?: boolean;
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
  /** When the parent sent it (parent clock). */
  sentAt: number;
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
  /** `commandTimeoutMs`: the longest one store command may take before it counts as failed. */
  commandTimeoutMs: number;
  /** `outageGraceMs`: how long a caller already waiting (or finishing) rides an outage out. */
  outageGraceMs: number;
  /**
   * After Redis lost its state, how long a holder of the old state may go on before it learns
   * (its first extension that reaches the new server, after its client reconnects): the bound on
   * an overlap across incarnations.
   */
  lossDetectionMs: number;
  /** After Redis serves again, how long a worker's store may take to say so (`store-recovered`). */
  reconnectMs: number;
  /**
   * Once its process can run, how long a holder that outlived its lease may go on before its
   * signal aborts: one renewal interval (a third of the lease) and event-loop slack.
   */
  noticeMs: number;
  /**
   * How long after its loader ended a load's finish may still write the flag when its caller
   * never reported the commit (the worker was killed, or the finish failed after it ran): the
   * finish rides an outage out for `outageGraceMs`, then one more command.
   */
  finishWindowMs: number;
  /**
   * A wait ends in LoadWaitTimeoutError only if outages (their heal included) left it less than
   * this much of its budget outside them: a lease, the longest load and slack. Undefined: a wait
   * timeout is never legal.
   */
  waitNeedsMs?: number;
  /**
   * The share of loader runs the traffic makes fail (`LoaderFailure`). While nothing else fails,
   * callers fail at most twice as often (a failed run fails the callers of its flight, as a
   * successful one serves them). Undefined: no bound.
   */
  loaderFailRate?: number;
}

export interface ChaosHistory {
  runs: LoadRecord[];
  requests: RequestRecord[];
  kills: KillEvent[];
  stalls: StallEvent[];
  outages: RedisOutage[];
  /** What each worker's store said of Redis, in time order. */
  storeEvents: StoreEventRecord[];
  clocks: Record<number, WorkerClock>;
  /** Each user's hash slot (needed when an outage names its slots). */
  userSlots?: Record<string, number>;
  settings: ChaosSettings;
}

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

/** When a load's finish may have written its flag, in parent time (see {@link HistoryView.writeOf}). */
export interface FlagWrite {
  run: LoadRecord;
  from: number;
  to: number;
  ttlMs: number;
}

export const describeRun = (r: LoadRecord): string =>
  `run ${r.id} (${r.worker}, token ${r.fencingToken}, ${r.incarnation ?? 'no incarnation'}, ` +
  `${Math.round(r.start)}..${r.end === undefined ? '?' : Math.round(r.end)}` +
  `${r.abortedAt === undefined ? '' : `, aborted ${Math.round(r.abortedAt)} ${r.abortReason}`})`;

const inSlots = (slot: number, ranges: Array<[number, number]>): boolean =>
  ranges.some(([low, high]) => slot >= low && slot <= high);

/** The history in the parent's clock, with the questions every rule asks of it. */
export class HistoryView {
  /** Facts a rule needed and did not find (each a violation). */
  readonly missing = new Set<string>();
  private readonly killAt = new Map<number, number>();

  constructor(readonly history: ChaosHistory) {
    for (const k of history.kills) this.killAt.set(k.pid, k.at);
  }

  get settings(): ChaosSettings {
    return this.history.settings;
  }

  /** A worker's time `time` in the parent's clock. */
  t(pid: number, time: number): number {
    return time - this.clock(pid).offsetMs;
  }

  /** A worker's measured clock uncertainty. */
  unc(pid: number): number {
    return this.clock(pid).uncertaintyMs;
  }

  /** When the parent SIGKILLed `pid`, if it did. */
  killOf(pid: number): number | undefined {
    return this.killAt.get(pid);
  }

  /** The outages that touched `user`'s keys (for a user outside a failed master's slots, the part that touched every slot). */
  outagesOf(user: string): RedisOutage[] {
    return this.history.outages.flatMap((o): RedisOutage[] => {
      if (o.slots === undefined) return [o];
      const slot = this.history.userSlots?.[user];
      if (slot === undefined) {
        this.missing.add(`no hash slot recorded for ${user}, though an outage names its slots`);
        return [o];
      }
      if (inSlots(slot, o.slots)) return [o];
      return o.everySlotUntilRestart ? [{ ...o, healedAt: undefined, slots: undefined }] : [];
    });
  }

  /**
   * True if an outage that lost `user`'s keys (with `anyOutage`, one that may have: a failover
   * loses what was not replicated yet) began after `before` and by `after`.
   */
  lostBetween(user: string, before: number, after: number, anyOutage = false): boolean {
    return this.outagesOf(user).some(
      (o) => (anyOutage || o.stateLost) && o.killedAt > before && o.killedAt <= after,
    );
  }

  /** The stall of `pid` that covers `time`, if any. */
  stallAt(pid: number, time: number): StallEvent | undefined {
    return this.history.stalls.find(
      (s) => s.pid === pid && s.stoppedAt <= time && time <= s.resumedAt,
    );
  }

  /**
   * The interval in which a run held its lease: from the grant until the earliest of its end,
   * its signal's abort, its process's SIGKILL and the lease's own expiry (the last renewal the
   * worker logged, or the grant, plus the lease; a stalled holder's lease runs out while it
   * sleeps). Each bound is taken on the safe side: `from` no earlier than the grant, `until` no
   * later than the lease's real end, so an overlap the checker reports did happen.
   */
  leaseOf(run: LoadRecord): Lease {
    const t = (time: number): number => this.t(run.pid, time);
    const ends: Array<[number, Lease['endedBy']]> = [];
    if (run.end !== undefined) ends.push([t(run.end), 'end']);
    if (run.abortedAt !== undefined) ends.push([t(run.abortedAt), 'abort']);
    if (run.leaseEndsAt !== undefined) ends.push([t(run.leaseEndsAt), 'expiry']);
    const killed = this.killOf(run.pid);
    if (killed !== undefined) ends.push([killed, 'kill']);
    const [until, endedBy] = ends.reduce((a, b) => (b[0] < a[0] ? b : a), [Infinity, 'end'] as [
      number,
      Lease['endedBy'],
    ]);
    return {
      run,
      sentAt: t(run.grantSentAt ?? run.acquiredAt ?? run.start),
      from: t(run.acquiredAt ?? run.start),
      until,
      endedBy,
      uncertaintyMs: this.unc(run.pid),
    };
  }

  /**
   * When a successful load's finish may have written its flag: from the loader's end until its
   * reported commit (a finish riding out an outage writes late) or, with none reported, the end
   * of the finish window; never after its process was killed. A commit acknowledged after a
   * restart that emptied Redis was written to the restarted server: after the old one died.
   * Undefined: the load wrote nothing (it failed, or never ended).
   */
  writeOf(run: LoadRecord): FlagWrite | undefined {
    if (run.ok !== true || run.end === undefined) return undefined;
    if (run.loadedTtlMs === undefined) {
      this.missing.add(`${describeRun(run)} has no flag TTL`);
      return undefined;
    }
    let from = this.t(run.pid, run.end);
    let to =
      run.committedAt === undefined
        ? from + this.settings.finishWindowMs
        : this.t(run.pid, run.committedAt);
    const killed = this.killOf(run.pid);
    if (killed !== undefined) to = Math.min(to, killed);
    if (run.committedAt !== undefined)
      for (const o of this.outagesOf(run.userId))
        if (o.stateLost && o.restartedAt > from && o.restartedAt <= to)
          from = Math.max(from, o.killedAt);
    return { run, from, to, ttlMs: run.loadedTtlMs };
  }

  /** Every caller any worker reported. */
  callers(): CallerResult[] {
    return this.history.requests.flatMap((q) => q.reported);
  }

  private clock(pid: number): WorkerClock {
    const clock = this.history.clocks[pid];
    if (clock !== undefined) return clock;
    this.missing.add(`no clock recorded for pid ${pid}`);
    return { offsetMs: 0, uncertaintyMs: 0 };
  }
}
