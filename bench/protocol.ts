/** Messages between `bench/run.ts` (parent) and `bench/worker.ts` (children), over the IPC channel. */

export const STRATEGY_IDS = [
  'library',
  'reference',
  'redlock',
  'redis-semaphore',
  'async-mutex',
] as const;
export type StrategyId = (typeof STRATEGY_IDS)[number];

/** Passed as JSON in the BENCH_WORKER environment variable. */
export interface WorkerConfig {
  name: string;
  redisUrl: string;
  /** Strategies this worker sets up (a crash victim only needs the one under test). */
  strategies: StrategyId[];
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

export type ParentMessage = RunCommand | { type: 'cancel'; runId: number } | { type: 'close' };

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
  | { type: 'closed'; name: string };
