/**
 * Part 6, Redis Cluster: what a Cluster changes, next to the bench's standalone server. Real
 * Clusters, started here with the test support code (`RedisClusterTopology`: redis-servers on
 * loopback, `redis-cli --cluster create`, cluster-node-timeout 1 s) and stopped at the end.
 *
 * Four ways to reach Redis (`RedisConfig`): the standalone server by URL (the module's own
 * ioredis client), the same server through a node-redis 5 client (the client of the classic
 * row, so its cost can be told from the bus's), the Cluster through an ioredis `Cluster` (the
 * module picks sharded notices: SPUBLISH / SSUBSCRIBE) and through a node-redis 5
 * `createCluster()` (the module falls back to classic PUBLISH and says why). Each app gets its
 * own client; the health details' `noticePath` is checked before anything is measured.
 *
 * - Notice latency, apps A and B per configuration: invalidation = A `clearLoaded`, until B's
 *   near-cache dropped the entry (B polls `isLoaded` with setImmediate until false; as
 *   `expectNearCacheInvalidatedEverywhere` in test/topologies/scenarios.ts); wake-up = B waits
 *   in `waitForLoad`, A `setLoaded`, until B's wait resolves. One sample of each per round,
 *   round-robin over the configurations (rotating order); p50 / p95 per repeat from an HDR
 *   histogram. B re-checks every 1 s (pollIntervalMs), so a wake inside a second is the notice's.
 * - Lock cycle: `acquireLoadLock` + `releaseLoadLock`, sequential and 32 concurrent (distinct
 *   users), standalone vs the Cluster vs the Cluster with `waitForReplicas`, in interleaved slices
 *   as part 2 takes them.
 * - Stampede, in this process: 4 apps × 50 callers, one cold user, load 250 ms (part 3 runs 4
 *   processes; its workers take a URL only).
 * - Cluster-bus traffic per notice: CLUSTER INFO `cluster_stats_messages_publish_sent` and
 *   `cluster_stats_messages_publishshard_sent`, summed over every node, before and after N
 *   `clearLoaded` calls (each publishes one notice), divided by N; on 3 masters and on 6, a
 *   replica each.
 *
 * The timed rows run pinned cross-core (every redis-server on CPU 0, the bench on CPU 1; see
 * placement.ts); the traffic rows are counts.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { LoadStatusHealthIndicator, type LoadStatusModuleOptions } from '../../src';
import {
  createTestRedisClient,
  createTopologyClient,
  type TestRedisClient,
} from '../../test/support/redis-clients';
import type { RedisServer } from '../../test/support/redis-server';
import { redisCli, RedisClusterTopology } from '../../test/support/redis-topologies';
import { sleep } from '../clock';
import { CONFIG } from '../config';
import { concurrentThroughput, throughput } from '../measure';
import { Pinning } from '../placement';
import type {
  BusTrafficRow,
  ClusterLockCycleRow,
  ClusterResult,
  ClusterStampedeRow,
  NoticeLatencyRow,
  RedisConfigId,
} from '../results';
import { measured, median, nsHistogram, percentile, type Measured } from '../stats';
import { LibraryStrategy } from '../strategies/library';
import { rotate } from './lock-cycle';

/** B stops polling for the invalidation after this long (the test's cap). */
const POLL_CAP_MS = 2_000;

/** How one configuration reaches Redis; `connect()` makes a fresh client for one app. */
interface RedisConfig {
  id: RedisConfigId;
  label: string;
  client: string;
  expectedPath: 'classic' | 'sharded';
  connect(): Promise<TestRedisClient>;
}

/** One app: the library in a Nest application context, and the client it borrows (if any). */
interface App {
  lib: LibraryStrategy;
  config: RedisConfig;
  close(): Promise<void>;
}

/** Clusters this part started and has not stopped yet (run.ts stops them if it is abandoned). */
const running = new Set<RedisClusterTopology>();

/** Stops every Cluster still running (for an interrupted run). */
export async function stopClusters(): Promise<void> {
  await Promise.allSettled([...running].map((c) => c.stop()));
  running.clear();
}

async function startCluster(
  shape: { masters: number; replicasPerMaster: number },
  log: (line: string) => void,
): Promise<RedisClusterTopology> {
  const t = performance.now();
  const cluster = await RedisClusterTopology.start(shape);
  running.add(cluster);
  log(
    `  cluster: ${shape.masters} masters + ${shape.masters * shape.replicasPerMaster} replicas up in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  return cluster;
}

async function stopCluster(cluster: RedisClusterTopology): Promise<void> {
  running.delete(cluster);
  await cluster.stop();
}

function configsFor(server: RedisServer, cluster: RedisClusterTopology): RedisConfig[] {
  const nodes = cluster.startupNodes;
  return [
    {
      id: 'standalone',
      label: 'standalone',
      client: 'URL (module-owned ioredis)',
      expectedPath: 'classic',
      connect: () => createTestRedisClient('ioredis-url', server.url),
    },
    {
      id: 'standalone-node-redis-5',
      label: 'standalone, node-redis 5 (client of the classic row)',
      client: 'node-redis 5 `createClient`',
      expectedPath: 'classic',
      connect: () => createTestRedisClient('node-redis-5', server.url),
    },
    {
      id: 'cluster-sharded',
      label: 'Cluster, sharded notices',
      client: 'ioredis `Cluster`',
      expectedPath: 'sharded',
      connect: () => createTopologyClient('ioredis-cluster', nodes),
    },
    {
      id: 'cluster-classic',
      label: 'Cluster, classic pub/sub',
      client: 'node-redis 5 `createCluster`',
      expectedPath: 'classic',
      connect: () => createTopologyClient('node-redis-5-cluster', nodes),
    },
  ];
}

/** Starts an app on `config`, and fails unless its notices travel the way `config` expects. */
async function startApp(
  config: RedisConfig,
  options: Omit<LoadStatusModuleOptions, 'redis'>,
  apps: App[],
): Promise<App & { noticePath: string; noticePathReason?: string }> {
  const client = await config.connect();
  let lib: LibraryStrategy;
  try {
    // Errors only: the classic row's boot warning would land in the tables on stdout; the reason
    // it gives is in the health details, checked below and shown in the tables.
    lib = await LibraryStrategy.withSource(client.source, options, ['error']);
  } catch (error) {
    await client.close();
    throw error;
  }
  const app: App = {
    lib,
    config,
    close: async () => {
      await lib.close();
      await client.close();
    },
  };
  apps.push(app);
  const health = (await lib.app.get(LoadStatusHealthIndicator).isHealthy('ls')).ls;
  if (health.noticePath !== config.expectedPath || health.notifications !== 'live')
    throw new Error(
      `${config.label}: noticePath ${health.noticePath} (${health.noticePathReason ?? 'no reason'}), notifications ${health.notifications}; expected ${config.expectedPath}, live`,
    );
  return { ...app, noticePath: health.noticePath, noticePathReason: health.noticePathReason };
}

async function closeAll(apps: App[]): Promise<void> {
  await Promise.allSettled(apps.splice(0).map((a) => a.close()));
}

/** A clears; until B's near-cache no longer answers true (B's next read went to Redis). ms. */
async function invalidationMs(a: App, b: App, user: string): Promise<number> {
  await a.lib.status.setLoaded(user);
  if (!(await b.lib.status.isLoaded(user))) throw new Error(`B does not see ${user} loaded`);
  const clearedAt = performance.now();
  await a.lib.status.clearLoaded(user);
  while (await b.lib.status.isLoaded(user)) {
    if (performance.now() - clearedAt > POLL_CAP_MS) break;
    await nextTurn();
  }
  return performance.now() - clearedAt;
}

/** B waits in waitForLoad (its first check done); A sets the flag; until B's wait resolves. ms. */
async function wakeMs(a: App, b: App, user: string): Promise<number> {
  let wokeAt = Number.NaN;
  const woken = b.lib.status.waitForLoad(user, { timeoutMs: POLL_CAP_MS }).then((loaded) => {
    wokeAt = performance.now();
    return loaded;
  });
  await sleep(CONFIG.cluster.wakeLeadMs);
  const setAt = performance.now();
  try {
    await a.lib.status.setLoaded(user);
  } catch (error) {
    await woken.catch(() => undefined); // no unhandled rejection when the wait fails too
    throw error;
  }
  if (!(await woken)) throw new Error(`B's waitForLoad(${user}) timed out`);
  return wokeAt - setAt;
}

/** p50 and p95 of latencies in ms, through an HDR histogram (ns), in µs. */
function p50p95Us(samplesMs: number[]): { p50: number; p95: number } {
  const h = nsHistogram();
  for (const ms of samplesMs) h.recordValue(Math.max(1, Math.round(ms * 1e6)));
  const out = { p50: h.getValueAtPercentile(50) / 1000, p95: h.getValueAtPercentile(95) / 1000 };
  h.destroy();
  return out;
}

async function noticeLatency(
  configs: RedisConfig[],
  apps: App[],
  log: (line: string) => void,
): Promise<NoticeLatencyRow[]> {
  const cfg = CONFIG.cluster;
  const stamp = Date.now();
  const pairs: Array<{
    config: RedisConfig;
    a: App;
    b: App;
    path: string;
    reason?: string;
  }> = [];
  for (const config of configs) {
    // B re-checks every second: a wake within the first second is the notice's.
    const options = { keyPrefix: `bench-cl-lat-${config.id}-${stamp}`, pollIntervalMs: 1_000 };
    const a = await startApp(config, options, apps);
    const b = await startApp(config, options, apps);
    pairs.push({ config, a, b, path: b.noticePath, reason: b.noticePathReason });
  }
  for (const { a, b, config } of pairs)
    for (let i = 0; i < 10; i++) {
      await invalidationMs(a, b, `warmup:${config.id}:inv:${i}`);
      await wakeMs(a, b, `warmup:${config.id}:wake:${i}`);
    }
  const inv = new Map<RedisConfigId, Array<{ p50: number; p95: number }>>();
  const wake = new Map<RedisConfigId, Array<{ p50: number; p95: number }>>();
  const slow = new Map<RedisConfigId, number>();
  const late = new Map<RedisConfigId, number>();
  for (let repeat = 0; repeat < CONFIG.repeats; repeat++) {
    const invMs = new Map<RedisConfigId, number[]>(configs.map((c) => [c.id, []]));
    const wakeSamplesMs = new Map<RedisConfigId, number[]>(configs.map((c) => [c.id, []]));
    for (let round = 0; round < cfg.latencyRounds; round++) {
      for (const { a, b, config } of rotate(pairs, repeat + round)) {
        const user = `u:${repeat}:${round}`;
        invMs.get(config.id)!.push(await invalidationMs(a, b, `inv:${user}`));
        wakeSamplesMs.get(config.id)!.push(await wakeMs(a, b, `wake:${user}`));
      }
    }
    for (const { id } of configs) {
      const samples = [...invMs.get(id)!, ...wakeSamplesMs.get(id)!];
      slow.set(id, (slow.get(id) ?? 0) + samples.filter((ms) => ms > cfg.slowMs).length);
      late.set(id, (late.get(id) ?? 0) + samples.filter((ms) => ms > cfg.lateMs).length);
      inv.set(id, [...(inv.get(id) ?? []), p50p95Us(invMs.get(id)!)]);
      wake.set(id, [...(wake.get(id) ?? []), p50p95Us(wakeSamplesMs.get(id)!)]);
    }
    log(`  cluster latency: repeat ${repeat + 1}/${CONFIG.repeats} done`);
  }
  await closeAll(apps);
  return pairs.map(({ config, path, reason }) => ({
    config: config.id,
    label: config.label,
    client: config.client,
    noticePath: path,
    noticePathReason: reason,
    invalidationP50Us: measured(inv.get(config.id)!.map((x) => x.p50)),
    invalidationP95Us: measured(inv.get(config.id)!.map((x) => x.p95)),
    wakeP50Us: measured(wake.get(config.id)!.map((x) => x.p50)),
    wakeP95Us: measured(wake.get(config.id)!.map((x) => x.p95)),
    samples: cfg.latencyRounds,
    slow: slow.get(config.id)!,
    late: late.get(config.id)!,
  }));
}

/** Acquire + release; a lock not granted (held, or not replica-acknowledged) is counted. */
async function lockCycle(app: App, user: string, misses: { n: number }): Promise<void> {
  const lock = await app.lib.locks.acquireLoadLock(user);
  if (!lock) {
    misses.n++;
    return;
  }
  await app.lib.locks.releaseLoadLock(lock);
}

async function lockCycles(
  standalone: RedisConfig,
  cluster: RedisConfig,
  apps: App[],
  log: (line: string) => void,
): Promise<{ rows: ClusterLockCycleRow[]; extraUs: Measured }> {
  const cfg = CONFIG.lockCycle;
  const stamp = Date.now();
  const wanted = CONFIG.cluster.waitForReplicas;
  const entries: Array<{ id: ClusterLockCycleRow['id']; label: string; app: App }> = [
    {
      id: 'standalone',
      label: 'standalone (URL)',
      app: await startApp(standalone, { keyPrefix: `bench-cl-lock-s-${stamp}` }, apps),
    },
    {
      id: 'cluster',
      label: 'Cluster (ioredis `Cluster`)',
      app: await startApp(cluster, { keyPrefix: `bench-cl-lock-c-${stamp}` }, apps),
    },
    {
      id: 'cluster-wait-for-replicas',
      label: `Cluster (ioredis \`Cluster\`), waitForReplicas { replicas: ${wanted.replicas}, timeoutMs: ${wanted.timeoutMs} }`,
      app: await startApp(
        cluster,
        { keyPrefix: `bench-cl-lock-w-${stamp}`, waitForReplicas: { ...wanted } },
        apps,
      ),
    },
  ];
  const users = Array.from({ length: cfg.concurrency }, (_, i) => `lock-cycle:${i}`);
  const misses = new Map(entries.map((e) => [e.id, { n: 0 }]));
  const seq = new Map<string, number[]>();
  const conc = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, k: string, v: number): void => {
    m.set(k, [...(m.get(k) ?? []), v]);
  };
  for (const { id, app } of entries) {
    const miss = misses.get(id)!;
    await throughput(() => lockCycle(app, users[0], miss), cfg.warmupMs);
    await concurrentThroughput(
      (i) => lockCycle(app, users[i], miss),
      cfg.concurrency,
      cfg.warmupMs,
    );
  }
  for (let repeat = 0; repeat < CONFIG.repeats; repeat++) {
    // Short slices round-robin in a rotating order; a repeat's value is the median of its slices.
    const slicesSeq = new Map<string, number[]>();
    const slicesConc = new Map<string, number[]>();
    for (let slice = 0; slice < cfg.slices; slice++) {
      for (const { id, app } of rotate(entries, repeat + slice)) {
        const miss = misses.get(id)!;
        push(slicesSeq, id, await throughput(() => lockCycle(app, users[0], miss), cfg.sliceMs));
        push(
          slicesConc,
          id,
          await concurrentThroughput(
            (i) => lockCycle(app, users[i], miss),
            cfg.concurrency,
            cfg.sliceMs,
          ),
        );
      }
    }
    for (const { id } of entries) {
      push(seq, id, median(slicesSeq.get(id)!));
      push(conc, id, median(slicesConc.get(id)!));
    }
    log(`  cluster lock cycle: repeat ${repeat + 1}/${CONFIG.repeats} done`);
  }
  await closeAll(apps);
  const plain = seq.get('cluster')!;
  const withWait = seq.get('cluster-wait-for-replicas')!;
  return {
    rows: entries.map(({ id, label }) => ({
      id,
      label,
      sequentialOpsPerSec: measured(seq.get(id)!),
      concurrentOpsPerSec: measured(conc.get(id)!),
      notGranted: misses.get(id)!.n,
    })),
    extraUs: measured(withWait.map((w, i) => 1e6 / w - 1e6 / plain[i])),
  };
}

async function stampede(
  configs: RedisConfig[],
  apps: App[],
  log: (line: string) => void,
): Promise<ClusterStampedeRow[]> {
  const cfg = CONFIG.cluster.stampede;
  const stamp = Date.now();
  const groups: Array<{ config: RedisConfig; members: App[] }> = [];
  for (const config of configs) {
    const members: App[] = [];
    for (let i = 0; i < cfg.apps; i++)
      members.push(
        await startApp(config, { keyPrefix: `bench-cl-st-${config.id}-${stamp}` }, apps),
      );
    for (const [i, app] of members.entries())
      await app.lib.ensureLoaded(`warmup:${i}`, () => sleep(1));
    groups.push({ config, members });
  }
  type Trial = { loaderRuns: number; errors: number; extrasMs: number[]; wallMs: number };
  const trials = new Map<RedisConfigId, Trial[]>(configs.map((c) => [c.id, []]));
  for (let repeat = 0; repeat < CONFIG.repeats; repeat++) {
    for (const { config, members } of rotate(groups, repeat)) {
      const user = `stampede:${repeat}`;
      let loaderRuns = 0;
      const startAt = performance.now();
      const calls = members.flatMap((app) =>
        Array.from({ length: cfg.callersPerApp }, async () => {
          let ran = false;
          try {
            await app.lib.locks.ensureLoaded(user, async () => {
              ran = true;
              loaderRuns++;
              await sleep(cfg.loadMs);
            });
            return { ran, ok: true, end: performance.now() };
          } catch {
            return { ran, ok: false, end: performance.now() };
          }
        }),
      );
      const ends = await Promise.all(calls);
      trials.get(config.id)!.push({
        loaderRuns,
        errors: ends.filter((c) => !c.ok).length,
        extrasMs: ends.filter((c) => c.ok && !c.ran).map((c) => c.end - startAt - cfg.loadMs),
        wallMs: Math.max(...ends.map((c) => c.end)) - startAt,
      });
      await sleep(100);
    }
    log(`  cluster stampede: repeat ${repeat + 1}/${CONFIG.repeats} done`);
  }
  await closeAll(apps);
  return configs.map((config) => {
    const list = trials.get(config.id)!;
    return {
      config: config.id,
      label: config.label,
      callers: cfg.apps * cfg.callersPerApp,
      loaderRuns: measured(list.map((t) => t.loaderRuns)),
      errors: measured(list.map((t) => t.errors)),
      waiterExtraP50Ms: measured(list.map((t) => percentile(t.extrasMs, 50))),
      waiterExtraP99Ms: measured(list.map((t) => percentile(t.extrasMs, 99))),
      waiterExtraMaxMs: measured(list.map((t) => Math.max(...t.extrasMs))),
      wallMs: measured(list.map((t) => t.wallMs)),
    };
  });
}

/** `CLUSTER INFO`'s publish counters, summed over every node (a counter not listed is 0). */
async function busCounters(cluster: RedisClusterTopology): Promise<[number, number]> {
  const infos = await Promise.all(cluster.running.map((n) => redisCli(n.port, 'CLUSTER', 'INFO')));
  const field = (info: string, name: string): number =>
    Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return [
    infos.reduce((s, i) => s + field(i, 'cluster_stats_messages_publish_sent'), 0),
    infos.reduce((s, i) => s + field(i, 'cluster_stats_messages_publishshard_sent'), 0),
  ];
}

async function busTraffic(
  cluster: RedisClusterTopology,
  shape: { masters: number; replicasPerMaster: number },
  configs: RedisConfig[],
  apps: App[],
): Promise<BusTrafficRow[]> {
  const n = CONFIG.cluster.trafficNotices;
  const rows: BusTrafficRow[] = [];
  const nodes = shape.masters * (1 + shape.replicasPerMaster);
  for (const config of configs) {
    const app = await startApp(config, { keyPrefix: `bench-cl-bus-${config.id}` }, apps);
    for (let i = 0; i < 20; i++) await app.lib.status.clearLoaded(`warmup:${i}`);
    const publish: number[] = [];
    const shard: number[] = [];
    for (let repeat = 0; repeat < CONFIG.repeats; repeat++) {
      const before = await busCounters(cluster);
      // Users spread over every group, so over every shard.
      for (let i = 0; i < n; i++) await app.lib.status.clearLoaded(`bus:${repeat}:${i}`);
      await sleep(50);
      const after = await busCounters(cluster);
      publish.push((after[0] - before[0]) / n);
      shard.push((after[1] - before[1]) / n);
    }
    await closeAll(apps);
    const sharded = config.expectedPath === 'sharded';
    rows.push({
      masters: shape.masters,
      replicasPerMaster: shape.replicasPerMaster,
      nodes,
      path: config.expectedPath,
      client: config.client,
      notices: n,
      publishPerNotice: measured(publish),
      publishShardPerNotice: measured(shard),
      totalPerNotice: measured(publish.map((p, i) => p + shard[i])),
      expectedPerNotice: sharded ? shape.replicasPerMaster : nodes - 1,
    });
  }
  return rows;
}

export async function clusterPart(
  server: RedisServer,
  log: (line: string) => void,
): Promise<ClusterResult> {
  const started = performance.now();
  const cfg = CONFIG.cluster;
  const apps: App[] = [];
  let pinning: Pinning | undefined;
  let small: RedisClusterTopology | undefined;
  let large: RedisClusterTopology | undefined;
  try {
    small = await startCluster(cfg.small, log);
    const configs = configsFor(server, small);
    const byId = (id: RedisConfigId): RedisConfig => configs.find((c) => c.id === id)!;
    pinning = new Pinning([server.pid, ...small.nodes.map((n) => n.pid)]);
    const placement = pinning.place('cross-core')
      ? 'cross-core: every redis-server (standalone and Cluster nodes) on CPU 0, the bench on CPU 1'
      : 'unpinned (no taskset or 1 CPU)';
    const latency = await noticeLatency(configs, apps, log);
    const locks = await lockCycles(byId('standalone'), byId('cluster-sharded'), apps, log);
    const stampedeRows = await stampede(configs, apps, log);
    pinning.release();
    const clusterConfigs = [byId('cluster-sharded'), byId('cluster-classic')];
    const traffic = await busTraffic(small, cfg.small, clusterConfigs, apps);
    await stopCluster(small);
    small = undefined;
    large = await startCluster(cfg.large, log);
    const largeConfigs = configsFor(server, large).filter((c) => c.id.startsWith('cluster-'));
    traffic.push(...(await busTraffic(large, cfg.large, largeConfigs, apps)));
    log(`  cluster: bus traffic measured`);
    const replicas = cfg.small.masters * cfg.small.replicasPerMaster;
    return {
      topology: `${cfg.small.masters} masters + ${replicas} replicas (cluster-node-timeout 1000 ms), Redis on loopback`,
      placement,
      latency,
      lockCycle: locks.rows,
      waitForReplicasExtraUs: locks.extraUs,
      stampede: stampedeRows,
      traffic,
      durationSec: (performance.now() - started) / 1000,
    };
  } finally {
    pinning?.release();
    await closeAll(apps);
    if (small) await stopCluster(small);
    if (large) await stopCluster(large);
  }
}
