/**
 * Knobs of `npm run bench`. The full run is sized for the project's 2-core machine (about 6
 * minutes, of which the Redis Cluster part takes 1-2 and steady traffic about 1.5); BENCH_QUICK=1
 * is a smoke run of about two minutes (one repeat, short windows, a shorter crash cap, shorter
 * TTLs), whose numbers are not for quoting. BENCH_ONLY=<id>[,<id>…] runs only those parts (ids:
 * {@link PART_IDS}), e.g. BENCH_ONLY=cluster for the Redis Cluster rows alone, BENCH_ONLY=steady
 * for steady traffic across TTL expiry.
 */
export const QUICK = process.env.BENCH_QUICK === '1';

/** The parts of the run, in the order they run, as BENCH_ONLY names them. */
export const PART_IDS = [
  'hot-path',
  'lock-cycle',
  'stampede',
  'many-users',
  'crash',
  'cluster',
  'steady',
] as const;
export type PartId = (typeof PART_IDS)[number];

/** BENCH_ONLY as a list of parts; every part when unset. Throws on a name it does not know. */
function parseOnly(value: string | undefined): readonly PartId[] {
  if (value === undefined || value.trim() === '') return PART_IDS;
  const names = value.split(',').map((x) => x.trim());
  const unknown = names.filter((x) => !(PART_IDS as readonly string[]).includes(x));
  if (unknown.length > 0)
    throw new Error(
      `BENCH_ONLY: unknown part ${unknown.join(', ')}; known: ${PART_IDS.join(', ')}`,
    );
  return PART_IDS.filter((id) => names.includes(id));
}

export const CONFIG = {
  quick: QUICK,
  /** The parts this run measures (BENCH_ONLY), in run order. */
  only: parseOnly(process.env.BENCH_ONLY),
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
  /** Part 6, Redis Cluster (bench/scenarios/cluster.ts). */
  cluster: {
    /** The Cluster of the latency, lock-cycle and stampede rows, and the first traffic row. */
    small: { masters: 3, replicasPerMaster: 1 },
    /** The second traffic row: twice the shards, a replica each as well. */
    large: { masters: 6, replicasPerMaster: 1 },
    /** Latency samples per repeat, configuration and measure (taken round-robin). */
    latencyRounds: QUICK ? 40 : 200,
    /** B has been waiting this long (its first check done) when A calls setLoaded. */
    wakeLeadMs: 10,
    /** Latency samples above this are counted: a stall (e.g. a delayed ACK on the bus). */
    slowMs: 10,
    /** A latency above this is a lost notice (B's re-check or the poll cap ended it). */
    lateMs: 500,
    /** Notices per traffic sample. */
    trafficNotices: QUICK ? 100 : 500,
    stampede: { apps: 4, callersPerApp: 50, loadMs: 250 },
    waitForReplicas: { replicas: 1, timeoutMs: 100 },
  },
  /**
   * Part 7, steady traffic across TTL expiry (bench/scenarios/steady.ts): every process starts a
   * call every `everyMs` (users round robin, processes phase-shifted) for `ttls` flag TTLs, after
   * one cold load per user that is not measured.
   */
  steady: {
    processes: 4,
    users: 2,
    everyMs: 10,
    loadedTtlMs: QUICK ? 1_000 : 2_000,
    /** About a third of the TTL. */
    refreshAheadMs: QUICK ? 350 : 700,
    loadMs: QUICK ? 150 : 250,
    /** Traffic lasts this many flag TTLs. */
    ttls: QUICK ? 3 : 4,
    /** A caller that took longer than this waited (a flag or near-cache answer takes ~0.1-1 ms). */
    waitedMs: 5,
  },
  /** Lead time of a barrier start: every worker gets its `run` before the start time. */
  barrierLeadMs: 250,
  /** A stampede / many-users trial that takes longer than this is cancelled and reported. */
  trialTimeoutMs: 60_000,
} as const;
