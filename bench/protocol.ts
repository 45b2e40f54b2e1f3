/** Messages between `bench/run.ts` (parent) and `bench/worker.ts` (children), over the IPC channel. */

export const STRATEGY_IDS = [
  'library',
  'reference',
  'redlock',
  'redis-semaphore',
  'async-mutex',
] as const;
export type StrategyId = (typeof STRATEGY_IDS)[number];

/**
 * The rows of part 7 (steady traffic across TTL expiry), each a strategy set up with the part's
 * short flag TTL: the library without and with `refreshAheadMs`, and the reference pattern.
 */
export const STEADY_VARIANTS = ['library', 'library-refresh-ahead', 'reference'] as const;
export type SteadyVariant = (typeof STEADY_VARIANTS)[number];

/** What a worker needs to set up the {@link STEADY_VARIANTS}. */
export interface SteadySetup {
  /** Flag TTL of every variant (the library's `loadedTtlMs`, the reference's SET PX). */
  loadedTtlMs: number;
  /** The `library-refresh-ahead` variant's `refreshAheadMs`. */
  refreshAheadMs: number;
}

/** Passed as JSON in the BENCH_WORKER environment variable. */
export interface WorkerConfig {
  name: string;
  redisUrl: string;
  /** Strategies this worker sets up (a crash victim only needs the one under test). */
  strategies: StrategyId[];
  /** Set: the worker also sets up every {@link STEADY_VARIANTS} entry (part 7). */
  steady?: SteadySetup;
}

export interface RunCommand {
  type: 'run';
  runId: number;
  strategy: StrategyId;
  userIds: string[];
  callersPerUser: number;
  loadMs: number;
  /** Wall-clock ms at which every call of this run fires, in the same tick. */
  startAt: number;
}

/**
 * Part 7: paced traffic. From `startAt + phaseMs` until `startAt + durationMs` the worker starts
 * one call every `everyMs` by a timer (users round robin), without awaiting earlier calls (open
 * loop, as independent requests arrive). `prime`: first, before the barrier, one awaited call per
 * user (the cold loads, reported apart); with `durationMs` 0 the run is only that.
 */
export interface SteadyCommand {
  type: 'steady';
  runId: number;
  variant: SteadyVariant;
  userIds: string[];
  everyMs: number;
  phaseMs: number;
  durationMs: number;
  loadMs: number;
  startAt: number;
  prime: boolean;
}

export type ParentMessage =
  RunCommand | SteadyCommand | { type: 'cancel'; runId: number } | { type: 'close' };

/** How one call ended. `ran-loader`: this call's loader ran. `joined`: it shared a loader run of its process. */
export type CallOutcome = 'ran-loader' | 'joined' | 'waited' | 'already-loaded' | 'error';

export interface CallRecord {
  userId: string;
  outcome: CallOutcome;
  /** Wall-clock ms when the call settled. */
  end: number;
  error?: string;
}

export interface RunResult {
  type: 'result';
  runId: number;
  worker: string;
  callers: CallRecord[];
  loaderRuns: number;
  /** Commands this process's ioredis clients sent while the run was active (round trips). */
  commandsSent: number;
  cancelled: boolean;
  /** Wall-clock ms at which the calls actually fired (the barrier timer fires a little late). */
  firedAt: number;
}

/** One paced call of a steady run. */
export interface SteadyCall {
  /** Started this long after the run's `startAt` (wall clock, ms). */
  at: number;
  /** Call start to settle (`performance.now()`, ms). */
  latencyMs: number;
  /** The strategy's answer: `already-loaded` = served from the flag (or the near-cache). */
  outcome: CallOutcome;
  /** This call's loader ran although the call was answered `already-loaded` (a refresh-ahead). */
  background: boolean;
  error?: string;
}

export interface SteadyReport {
  type: 'steady-result';
  runId: number;
  worker: string;
  /** The prime's cold calls (none unless `prime`). */
  primeCalls: SteadyCall[];
  primeLoaderRuns: number;
  calls: SteadyCall[];
  /**
   * Loader runs in this process during the traffic, counted in the loader itself: foreground and
   * background (refresh-ahead) runs alike. The report waits until every one of them has ended.
   */
  loaderRuns: number;
  /** Wall-clock ms of the first and the last paced call. */
  firstAt: number;
  lastAt: number;
  /** How late each pacing timer fired (ms): this machine's scheduling noise. */
  timerLateMs: number[];
  /** Calls not started because the pacing timer fell more than one interval behind. */
  skipped: number;
  cancelled: boolean;
}

export interface LoaderEvent {
  type: 'loader-start' | 'loader-end';
  runId: number;
  worker: string;
  userId: string;
  at: number;
  ok?: boolean;
}

export type WorkerMessage =
  | { type: 'ready'; name: string; pid: number }
  | { type: 'fatal'; name: string; message: string }
  | LoaderEvent
  | RunResult
  | SteadyReport
  | { type: 'closed'; name: string };
