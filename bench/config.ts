/**
 * Knobs of `npm run bench`. The full run is sized for the project's 2-core machine (about 4
 * minutes); BENCH_QUICK=1 is a smoke run of about a minute (one repeat, short windows, a shorter
 * crash cap), whose numbers are not for quoting.
 */
export const QUICK = process.env.BENCH_QUICK === '1';

export const CONFIG = {
  quick: QUICK,
  /** Repeats of every measurement; the tables show medians. */
  repeats: QUICK ? 1 : 3,
  hotPath: {
    /** Throughput window per row and repeat (no per-call timing inside it). */
    throughputMs: QUICK ? 150 : 400,
    /** Latency window per row and repeat (every call timed, into an HDR histogram). */
    latencyMs: QUICK ? 150 : 400,
    warmupMs: QUICK ? 50 : 200,
  },
  lockCycle: {
    /** Per repeat and placement: `slices` round-robin slices of `sliceMs` per strategy and mode. */
    slices: QUICK ? 2 : 4,
    sliceMs: QUICK ? 75 : 100,
    warmupMs: QUICK ? 50 : 150,
    concurrency: 32,
  },
  stampede: {
    processes: 4,
    callersPerProcess: 50,
    loadMs: [250, 1000],
  },
  crash: {
    /** Callers per process; fewer than the stampede's 50 because several trials run at once. */
    callersPerProcess: 10,
    loadMs: 300,
    killAfterMs: 100,
    /** Stop waiting for a completed load this long after the kill. */
    capMs: QUICK ? 8_000 : 35_000,
    /** After the kill a new request for the user arrives this often (round robin over survivors). */
    newRequestEveryMs: 1_000,
  },
  manyUsers: {
    processes: 4,
    users: QUICK ? 200 : 1_000,
    callersPerUser: 20,
    loadMs: 100,
  },
  /** Lead time of a barrier start: every worker gets its `run` before the start time. */
  barrierLeadMs: 250,
  /** A stampede / many-users trial that takes longer than this is cancelled and reported. */
  trialTimeoutMs: 60_000,
} as const;
