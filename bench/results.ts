import type { SteadyVariant, StrategyId } from './protocol';
import type { Measured } from './stats';

export interface HotPathRow {
  id: string;
  label: string;
  /** CPU placement of this process and Redis while measured (see placement.ts). */
  placement: string;
  checksPerSec: Measured;
  p50Us: Measured;
  p99Us: Measured;
}

export interface HotPathResult {
  rows: HotPathRow[];
  decorator: {
    /** p50 and p99 of a decorated call on a loaded user minus those of the undecorated method. */
    p50OverheadUs: Measured;
    p99OverheadUs: Measured;
    /** 1/throughput difference: mean cost added per call. */
    meanOverheadUs: Measured;
  };
  /** Times the decorated method's body ran while it was measured (must be 0: the user is loaded). */
  decoratedBodyRuns: number;
  /** Events the `events$` subscriber of the "one subscriber" row received (0: a hit emits none). */
  eventsSeen: number;
}

export interface LockCycleRow {
  strategy: StrategyId;
  /** e.g. "one events$ subscriber" for the library with a subscriber attached. */
  variant?: string;
  placement: string;
  sequentialOpsPerSec: Measured;
  concurrentOpsPerSec: Measured;
}

export interface StampedeRow {
  strategy: StrategyId;
  loadMs: number;
  callers: number;
  loaderRuns: Measured;
  errors: Measured;
  waiterExtraP50Ms: Measured;
  waiterExtraP99Ms: Measured;
  waiterExtraMaxMs: Measured;
  redisCommands: Measured;
  roundTrips: Measured;
  wallMs: Measured;
  /** Diagnostics: latest worker's barrier timer lateness; first loader start after the barrier. */
  barrierLateMs: Measured;
  loadStartMs: Measured;
  /** Waiter end − end of the load it waited for (its own process's, else the first one). */
  wakeAfterLoadP50Ms: Measured;
  wakeAfterLoadP99Ms: Measured;
  /** INFO commandstats delta of the median-commands repeat. */
  commandBreakdown: Record<string, number>;
  errorKinds: Record<string, number>;
}

export interface CrashRow {
  strategy: StrategyId;
  /** Kill → first load completed in another process; Infinity (null in JSON) = none within the cap. */
  takeoverMs: Measured;
  capMs: number;
  survivorCallers: number;
  survivorErrors: Measured;
  stillWaitingAtCap: Measured;
  newRequests: Measured;
  newRequestErrors: Measured;
  loaderRunsAfterKill: Measured;
  errorKinds: Record<string, number>;
  note?: string;
}

export interface ManyUsersRow {
  strategy: StrategyId;
  users: number;
  callers: number;
  loads: Measured;
  errors: Measured;
  totalMs: Measured;
  callerP99Ms: Measured;
  redisCommands: Measured;
  roundTrips: Measured;
  errorKinds: Record<string, number>;
}

/** How part 6 reaches Redis: its standalone server, or the Cluster through one of two clients. */
export type RedisConfigId =
  'standalone' | 'standalone-node-redis-5' | 'cluster-sharded' | 'cluster-classic';

export interface NoticeLatencyRow {
  config: RedisConfigId;
  label: string;
  /** The client the apps hand to the module. */
  client: string;
  /** The health details' `noticePath` (and `noticePathReason`) of the apps. */
  noticePath: string;
  noticePathReason?: string;
  /** A clears, until B's near-cache has dropped the entry (B's next `isLoaded` is false). */
  invalidationP50Us: Measured;
  invalidationP95Us: Measured;
  /** A calls setLoaded, until B's `waitForLoad` resolves. */
  wakeP50Us: Measured;
  wakeP95Us: Measured;
  /** Samples per repeat and measure. */
  samples: number;
  /** Samples over `slowMs` (stalled), every repeat and both measures. */
  slow: number;
  /** Samples over `lateMs` (a notice lost), every repeat and both measures. */
  late: number;
}

export interface ClusterLockCycleRow {
  id: 'standalone' | 'cluster' | 'cluster-wait-for-replicas';
  label: string;
  sequentialOpsPerSec: Measured;
  concurrentOpsPerSec: Measured;
  /** Cycles whose acquire got no lock (waitForReplicas: fewer acknowledgements in time). */
  notGranted: number;
}

export interface ClusterStampedeRow {
  config: RedisConfigId;
  label: string;
  callers: number;
  loaderRuns: Measured;
  errors: Measured;
  waiterExtraP50Ms: Measured;
  waiterExtraP99Ms: Measured;
  waiterExtraMaxMs: Measured;
  wallMs: Measured;
}

export interface BusTrafficRow {
  masters: number;
  replicasPerMaster: number;
  nodes: number;
  path: 'sharded' | 'classic';
  client: string;
  notices: number;
  /** CLUSTER INFO deltas summed over every node, divided by the notices. */
  publishPerNotice: Measured;
  publishShardPerNotice: Measured;
  totalPerNotice: Measured;
  /** What Redis should send: every other node (classic), the shard's other nodes (sharded). */
  expectedPerNotice: number;
}

export interface ClusterResult {
  /** The Cluster of the latency, lock-cycle and stampede rows. */
  topology: string;
  placement: string;
  latency: NoticeLatencyRow[];
  lockCycle: ClusterLockCycleRow[];
  /** waitForReplicas cost per acquire (sequential): 1/ops with it − 1/ops without, µs. */
  waitForReplicasExtraUs: Measured;
  stampede: ClusterStampedeRow[];
  traffic: BusTrafficRow[];
  /** Filled in by run.ts (report.ts `evaluateClusterTargets`). */
  targets?: TargetCheck[];
  durationSec: number;
}

/** Part 7: one row of steady traffic across TTL expiry (every process's calls together). */
export interface SteadyRow {
  variant: SteadyVariant;
  label: string;
  /** Paced calls per repeat (cold prime calls not included). */
  callers: Measured;
  /** First to last paced call, over every process (ms). */
  trafficMs: Measured;
  /** Caller latency, call start to settle, from an HDR histogram per repeat (ms). */
  p50Ms: Measured;
  p99Ms: Measured;
  maxMs: Measured;
  /** Callers that took longer than `waitedMs`. */
  waited: Measured;
  /** Callers not answered `already-loaded` (they loaded, joined a load or waited for one). */
  notFromFlag: Measured;
  /** Loader runs counted in the workers' loaders during the traffic, background ones included. */
  loaderRuns: Measured;
  /** Loader runs of calls answered `already-loaded` (refresh-ahead, in the background). */
  backgroundLoads: Measured;
  /** Loader runs per user ÷ (traffic ms ÷ flag TTL). */
  loadsPerTtl: Measured;
  /**
   * Median gap between one user's consecutive loader starts, the cold load's included (ms): the
   * load period, free of how many expiries happen to fall inside the traffic window.
   */
  loadGapMs: Measured;
  errors: Measured;
  errorKinds: Record<string, number>;
  /** Cold loads of the prime before the traffic, per repeat (one per user expected). */
  primeLoads: number[];
  /** Diagnostics: lateness of the pacing timers (ms), and calls skipped because of it. */
  timerLateP99Ms: Measured;
  timerLateMaxMs: Measured;
  skipped: Measured;
}

export interface SteadyResult {
  settings: {
    processes: number;
    users: number;
    everyMs: number;
    loadedTtlMs: number;
    refreshAheadMs: number;
    loadMs: number;
    ttls: number;
    waitedMs: number;
  };
  rows: SteadyRow[];
  durationSec: number;
}

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean;
}

export interface BenchResults {
  meta: {
    date: string;
    command: string;
    quick: boolean;
    repeats: number;
    node: string;
    redis: string;
    cpus: number;
    cpuModel: string;
    platform: string;
    durationSec: number;
    loadAverageAtStart: number[];
    loadAverageAtEnd: number[];
    pinning: string;
    settings: Record<string, unknown>;
  };
  hotPath?: HotPathResult;
  lockCycle?: LockCycleRow[];
  stampede?: StampedeRow[];
  crash?: CrashRow[];
  manyUsers?: ManyUsersRow[];
  cluster?: ClusterResult;
  steady?: SteadyResult;
  targets?: TargetCheck[];
  errors: string[];
}
