/**
 * The proofs every topology must pass, written once and run by cluster.spec.ts and
 * sentinel.spec.ts against their own Redis: a multi-process stampede, waiter wake-up by
 * notification, near-cache invalidation across apps, crash takeover, the master of a loading
 * user killed mid-load (per policy, with and without `outageGraceMs`), and a shortened chaos
 * run judged by the chaos checker.
 */
import { resetLoadStatus } from '../../src/testing';
import { Cluster, Redis } from 'ioredis';
import type { LoadStatusModuleOptions, OnStoreError } from '../../src';
import { startAppOn, type TestApp } from '../support/apps';
import { uniquePrefix, userKey } from '../support/env';
import { createTopologyClient, type TopologyFlavour } from '../support/redis-clients';
import { RedisClusterTopology, RedisSentinelTopology } from '../support/redis-topologies';
import type { RedisOutage } from '../multi-process/chaos-checker';
import calculateSlot from 'cluster-key-slot';
import { MIN_FAULTS, runChaos, type ChaosTarget } from '../multi-process/chaos';
import {
  callersOf,
  failures,
  firstLoaderEvent,
  loadsOf,
  now,
  waitingSeen,
  type LoadWorker,
  type WorkerPool,
} from '../multi-process/harness';
import { crashHolderMidLoad } from '../multi-process/crash-scenario';

/** What a scenario needs of the topology under test. */
export interface Topology {
  name: string;
  /** The client the workers hand to the module (ioredis `Cluster`, ioredis Sentinel options). */
  client: TopologyFlavour;
  nodes: Array<{ host: string; port: number }>;
  /** A client for the test itself (keys, counters), and for in-process apps. */
  inspector(): Redis | Cluster;
  /** An in-process app on this topology (its own client). */
  app(options: Omit<LoadStatusModuleOptions, 'redis'>): Promise<TestApp>;
  /**
   * Kills the master that holds `key` and waits until a replica was promoted; resolves with the
   * window (gone at `killedAt`, serving again at `restartedAt`) and the killed node's port.
   */
  failOverMasterOf(key: string): Promise<RedisOutage & { killedPort: number }>;
  /** Restarts a killed node (it rejoins as a replica) and waits until the topology is healthy. */
  heal(port: number): Promise<void>;
}

/** A Redis Cluster, reached with `flavour`. */
export function clusterTopology(cluster: RedisClusterTopology, flavour: TopologyFlavour): Topology {
  return {
    name: 'cluster',
    client: flavour,
    nodes: cluster.startupNodes,
    inspector: () =>
      new Cluster(cluster.startupNodes, { redisOptions: { maxRetriesPerRequest: 1 } }),
    app: (options) => topologyApp(flavour, cluster.startupNodes, options),
    failOverMasterOf: async (key) => {
      const killedAt = now();
      const { killedPort, slots, okAt, fullCoverage } = await cluster.failOverMasterOf(key);
      // A failover keeps what was replicated. Until every node says the cluster is ok again, a
      // cluster that requires full coverage refuses every slot; after that, while the dead node
      // rejoins, only its slots are touched.
      return {
        killedAt,
        restartedAt: okAt,
        killedPort,
        stateLost: false,
        slots,
        everySlotUntilRestart: fullCoverage,
      };
    },
    heal: (port) => cluster.heal(port),
  };
}

/** A Sentinel group (whatever the key, its one master is killed), reached with `flavour`. */
export function sentinelTopology(group: RedisSentinelTopology, flavour: TopologyFlavour): Topology {
  return {
    name: 'sentinel',
    client: flavour,
    nodes: group.sentinelAddresses,
    inspector: () =>
      new Redis({
        sentinels: group.sentinelAddresses,
        name: RedisSentinelTopology.masterName,
        maxRetriesPerRequest: 1,
      }),
    app: (options) => topologyApp(flavour, group.sentinelAddresses, options),
    failOverMasterOf: async () => {
      const killedAt = now();
      const { killedPort } = await group.failOver();
      return { killedAt, restartedAt: now(), killedPort, stateLost: false };
    },
    heal: (port) => group.heal(port),
  };
}

async function topologyApp(
  flavour: TopologyFlavour,
  nodes: Array<{ host: string; port: number }>,
  options: Omit<LoadStatusModuleOptions, 'redis'>,
): Promise<TestApp> {
  return startAppOn(await createTopologyClient(flavour, nodes), options);
}

export function chaosTarget(topology: Topology): ChaosTarget {
  return {
    start: { client: topology.client, topologyNodes: topology.nodes },
    // Replica-acknowledged locks: a failover never hands a lock out twice, so exclusion holds.
    options: { waitForReplicas: { replicas: 1, timeoutMs: 200 } },
    inspector: () => topology.inspector(),
    // The master of a random user's slot is killed and a replica promoted; the outage lasts until
    // the killed node is back as a replica (until then no lock can be replica-acknowledged).
    fault: async (int, { keyPrefix, users }) => {
      const user = users[int(0, users.length - 1)];
      const { killedPort, ...outage } = await topology.failOverMasterOf(
        userKey(keyPrefix, user, 'lock'),
      );
      await topology.heal(killedPort);
      return { ...outage, healedAt: now() };
    },
    faultName: 'failovers',
    slotOf: topology.name === 'cluster' ? (key) => calculateSlot(key) : undefined,
  };
}

/** Callers of other processes end within this of the load's end: woken by a notice, not a lease. */
const WOKEN_WITHIN_MS = 1_000;

export async function expectStampedeRunsOnce(
  pool: WorkerPool,
  topology: Topology,
  inspect: Pick<Redis, 'hgetall'>,
): Promise<void> {
  const keyPrefix = uniquePrefix(`${topology.name}-stampede`);
  const user = 'cold-user';
  const workers = await pool.start(4, {
    keyPrefix,
    client: topology.client,
    topologyNodes: topology.nodes,
  });
  const reports = await pool.runTogether(workers, {
    userIds: [user],
    callersPerUser: 50,
    loadMs: 300,
  });
  const callers = callersOf(reports);
  expect(callers).toHaveLength(200);
  expect(failures(callers)).toEqual([]);
  const [load, ...more] = loadsOf(reports);
  expect(more).toEqual([]);
  expect(load.ok).toBe(true);
  const runs = await inspect.hgetall(`${keyPrefix}:test:loader-runs`);
  expect(runs).toEqual({ [user]: '1' });
  // Woken by the notification (shard-local on a Cluster), not by the 3 s lease.
  expect(Math.max(...callers.map((c) => c.end - load.end!))).toBeLessThan(WOKEN_WITHIN_MS);
}

/**
 * A clear in one app reaches another app's near-cache (its next read goes to Redis and sees it
 * gone) within notification latency; returns the latencies, ms.
 */
export async function expectNearCacheInvalidatedEverywhere(
  topology: Topology,
  rounds = 20,
): Promise<number[]> {
  const keyPrefix = uniquePrefix(`${topology.name}-near`);
  const [a, b] = await Promise.all([
    topology.app({ keyPrefix, nearCache: { maxEntries: 100, maxAgeMs: 60_000 } }),
    topology.app({ keyPrefix, nearCache: { maxEntries: 100, maxAgeMs: 60_000 } }),
  ]);
  const latencies: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const user = `near-${i}`;
      await a.status.setLoaded(user);
      expect(await b.status.isLoaded(user)).toBe(true); // cached in b now
      const clearedAt = performance.now();
      await a.status.clearLoaded(user);
      // b answers from its near-cache until the notice drops the entry.
      while (await b.status.isLoaded(user)) {
        if (performance.now() - clearedAt > 2_000) break;
        await new Promise((r) => setImmediate(r));
      }
      latencies.push(performance.now() - clearedAt);
    }
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
  expect(Math.max(...latencies)).toBeLessThan(WOKEN_WITHIN_MS);
  return latencies;
}

export async function expectCrashedHolderReplaced(
  pool: WorkerPool,
  topology: Topology,
  inspect: Pick<Redis, 'pttl'>,
): Promise<void> {
  const keyPrefix = uniquePrefix(`${topology.name}-crash`);
  const user = 'holder-dies';
  const workers = await pool.start(3, {
    keyPrefix,
    client: topology.client,
    topologyNodes: topology.nodes,
    options: { lockTtlMs: 1_000 },
  });
  const r = await crashHolderMidLoad({
    pool,
    workers,
    redis: inspect,
    keyPrefix,
    user,
    callersPerWorker: 10,
    loadMs: 200,
  });
  expect(failures(r.callers)).toEqual([]);
  expect(r.takeover?.ok).toBe(true);
  expect(r.loads.filter((l) => l.ok)).toHaveLength(1);
  expect(r.takeover!.start).toBeGreaterThanOrEqual(r.leaseReadAt + r.leaseLeftMs - 5);
  expect(r.takeoverMs!).toBeLessThan(r.leaseLeftMs + 500);
  expect(r.takeover!.fencingToken).toBeGreaterThan(r.killedLoad.fencingToken!);
}

export interface FailoverRun {
  policy: OnStoreError;
  outageGraceMs: number | undefined;
  /** Loader runs of the user whose master died mid-load (1 = no extra load). */
  loads: number;
  callers: number;
  errors: Record<string, number>;
  /** The failover: master killed → replica serving. */
  failoverMs: number;
  /** The longest caller, ms. */
  maxCallerMs: number;
}

/**
 * The master of a user being loaded is killed mid-load: 4 processes × 20 callers; the holder's
 * loader ends after the kill. Every caller ends with a value or a typed error within its bound;
 * then a fresh user loads once on the new master, woken by notifications (the subscriber came
 * back), with a fencing token above every earlier one.
 */
export async function masterKilledMidLoad(
  pool: WorkerPool,
  topology: Topology,
  policy: OnStoreError,
  outageGraceMs: number | undefined,
): Promise<FailoverRun> {
  const keyPrefix = uniquePrefix(`${topology.name}-fo`);
  const [u, v] = ['loading-when-master-dies', 'after-the-failover'];
  const workers: LoadWorker[] = await pool.start(4, {
    keyPrefix,
    client: topology.client,
    topologyNodes: topology.nodes,
    options: {
      onStoreError: policy,
      ...(outageGraceMs === undefined ? {} : { outageGraceMs }),
    },
  });
  const runs = pool.startTogether(workers, {
    userIds: [u],
    callersPerUser: 20,
    loadMs: 0,
    holdUntilFinished: true,
    mode: 'ensureLoaded',
  });
  const holderLoad = await firstLoaderEvent(workers, 'loader-start', (r) => r.userId === u);
  await waitingSeen(
    workers.filter((w) => w.pid !== holderLoad.pid),
    u,
  );
  const outagePromise = topology.failOverMasterOf(userKey(keyPrefix, u, 'lock'));
  // The holder finishes its load while the master is gone.
  await new Promise((r) => setTimeout(r, 200));
  for (const run of runs) run.worker.finishLoad(run.runId);
  const outage = await outagePromise;
  const reports = await Promise.all(runs.map((r) => r.report));
  const callers = callersOf(reports);
  expect(callers).toHaveLength(80);
  // A value or a typed error, within the bound: wait budget + commands + slack.
  const typed = new Set(['LoadStatusUnavailableError', 'LoadLeaseLostError', 'LoaderFailure']);
  expect(callers.filter((c) => !c.ok && !typed.has(c.errorName!))).toEqual([]);
  const maxCallerMs = Math.max(...callers.map((c) => c.ms));
  expect(maxCallerMs).toBeLessThan(15_000 + 2_000 + 1_000);
  const uLoads = loadsOf(reports);
  const tokenBefore = Math.max(...uLoads.map((l) => l.fencingToken ?? 0));

  // Loading resumes on the new master by itself, with notifications (woken within 1 s).
  await topology.heal(outage.killedPort);
  const after = await pool.runTogether(workers, {
    userIds: [v],
    callersPerUser: 10,
    loadMs: 200,
    mode: 'ensureLoaded',
  });
  const afterCallers = callersOf(after);
  expect(failures(afterCallers)).toEqual([]);
  const [vLoad, ...vMore] = loadsOf(after);
  expect(vMore).toEqual([]);
  expect(Math.max(...afterCallers.map((c) => c.end - vLoad.end!))).toBeLessThan(WOKEN_WITHIN_MS);
  expect(vLoad.fencingToken).toBeGreaterThan(tokenBefore);
  await pool.closeAll();

  const errors: Record<string, number> = {};
  for (const c of callers.filter((x) => !x.ok))
    errors[c.errorName!] = (errors[c.errorName!] ?? 0) + 1;
  return {
    policy,
    outageGraceMs,
    loads: uLoads.length,
    callers: callers.length,
    errors,
    failoverMs: Math.round(outage.restartedAt - outage.killedAt),
    maxCallerMs: Math.round(maxCallerMs),
  };
}

export function describeFailover(topology: string, r: FailoverRun): string {
  const errors =
    Object.entries(r.errors)
      .map(([n, c]) => `${n}=${c}`)
      .join(' ') || 'none';
  return `${topology} failover, ${r.policy}, outageGraceMs ${r.outageGraceMs ?? 'default (5000)'}: loads ${r.loads} (extra ${r.loads - 1}), ${r.callers} callers, errors ${errors}, failover ${r.failoverMs} ms, slowest caller ${r.maxCallerMs} ms`;
}

/** p50 / p95 of latencies, ms. */
export function percentiles(values: number[]): { p50: number; p95: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: Math.round(at(0.5) * 10) / 10, p95: Math.round(at(0.95) * 10) / 10 };
}

export { now };

/** The health details of an app (noticePath, noticePathReason, …). */
export async function healthOf(app: TestApp): Promise<Record<string, unknown>> {
  const { LoadStatusHealthIndicator } = await import('../../src');
  const details: Record<string, unknown> = (
    await app.app.get(LoadStatusHealthIndicator).isHealthy('ls')
  ).ls;
  return details;
}

/**
 * `reset()` deletes every key of the prefix on every master (keys spread over every slot
 * group), and nothing of another prefix.
 */
export async function expectResetReachesEveryMaster(
  topology: Topology,
  inspect: Pick<Redis, 'exists'>,
): Promise<void> {
  const keyPrefix = uniquePrefix(`${topology.name}-reset`);
  const otherPrefix = uniquePrefix(`${topology.name}-kept`);
  const [app, other] = await Promise.all([
    topology.app({ keyPrefix }),
    topology.app({ keyPrefix: otherPrefix }),
  ]);
  try {
    const users = Array.from({ length: 200 }, (_, i) => `reset-${i}`);
    await Promise.all(users.map((u) => app.status.setLoaded(u)));
    await Promise.all(users.map((u) => app.lock.acquireLoadLock(u)));
    await other.status.setLoaded('kept');
    const keys = users.flatMap((u) => [
      userKey(keyPrefix, u, 'loaded'),
      userKey(keyPrefix, u, 'lock'),
    ]);
    const present = async () =>
      (await Promise.all(keys.map((k) => inspect.exists(k)))).filter(Boolean).length;
    expect(await present()).toBe(keys.length);

    await resetLoadStatus(app.status);

    expect(await present()).toBe(0);
    expect(await Promise.all(users.map((u) => app.status.isLoaded(u)))).not.toContain(true);
    expect(await inspect.exists(userKey(otherPrefix, 'kept', 'loaded'))).toBe(1);
  } finally {
    await Promise.all([app.close(), other.close()]);
  }
}

/**
 * `clearAllLoaded()` in one app makes 100 users spread over every slot group not loaded in
 * another app (near-cache on) within notification latency: one single-key script per group,
 * never cross-slot.
 */
export async function expectClearAllReachesEveryApp(topology: Topology): Promise<void> {
  const keyPrefix = uniquePrefix(`${topology.name}-clear-all`);
  const [a, b] = await Promise.all([topology.app({ keyPrefix }), topology.app({ keyPrefix })]);
  try {
    const ids = Array.from({ length: 100 }, (_, i) => `c-${i}`);
    await Promise.all(ids.map((u) => a.status.setLoaded(u)));
    expect(await Promise.all(ids.map((u) => b.status.isLoaded(u)))).not.toContain(false);
    await a.status.clearAllLoaded();
    const clearedAt = performance.now();
    while ((await Promise.all(ids.map((u) => b.status.isLoaded(u)))).some(Boolean)) {
      if (performance.now() - clearedAt > WOKEN_WITHIN_MS) break;
      await new Promise((r) => setImmediate(r));
    }
    expect(await Promise.all(ids.map((u) => b.status.isLoaded(u)))).not.toContain(true);
    expect(performance.now() - clearedAt).toBeLessThan(WOKEN_WITHIN_MS);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

/** How long a topology chaos run injects faults (the fault minimums hold at any length). */
export const TOPOLOGY_CHAOS_MS = Number(process.env.LOAD_STATUS_TOPOLOGY_CHAOS_MS ?? 6_000);

/**
 * A shortened chaos run on the topology (worker kills, stalls, master failovers, with
 * `waitForReplicas: { replicas: 1 }`): every property of the chaos checker holds, the planned
 * faults happened, and no caller hung.
 */
export async function expectChaosPropertiesHold(
  pool: WorkerPool,
  topology: Topology,
): Promise<void> {
  const result = await runChaos({
    pool,
    target: chaosTarget(topology),
    durationMs: TOPOLOGY_CHAOS_MS,
  });
  console.log(result.summary);
  expect([...result.violations, ...result.verdict.violations]).toEqual([]);
  expect(result.stats.redisRestarts).toBeGreaterThanOrEqual(MIN_FAULTS.redisRestarts);
  expect(result.stats.killsMidLoad).toBe(result.stats.kills);
  expect(result.stats.kills).toBeGreaterThanOrEqual(MIN_FAULTS.kills);
  expect(result.stats.stallsTied).toBe(result.stats.stalls);
  expect(result.stats.stalls).toBeGreaterThanOrEqual(MIN_FAULTS.stalls);
  expect(result.verdict.callers.hung).toBe(0);
}
