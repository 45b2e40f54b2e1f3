/**
 * `npm run bench`: starts a private redis-server, runs the five scenarios of issue 4 for every
 * strategy side by side, then the Redis Cluster rows (part 6: it starts its own Clusters) and
 * steady traffic across TTL expiry (part 7: refresh-ahead against none and the reference), prints
 * markdown tables (medians of the repeats, ratios against the reference pattern or the
 * standalone server) and writes the same data to bench/results/latest.json.
 *
 * BENCH_QUICK=1: a smoke run of about two minutes (one repeat, short windows, crash cap 8 s,
 * part 7 on 1 s flag TTLs).
 * BENCH_ONLY=cluster, BENCH_ONLY=steady (or any comma-separated part ids of config.ts): only
 * those parts; the files are then bench/results/latest-<parts>.json and .md, so a full run's
 * stay.
 */
import 'reflect-metadata';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RedisServer } from '../test/support/redis-server';
import { CONFIG, PART_IDS, type PartId } from './config';
import { Pinning } from './placement';
import { WorkerPool } from './pool';
import { STRATEGY_IDS } from './protocol';
import { evaluateClusterTargets, evaluateTargets, renderMarkdown } from './report';
import type { BenchResults } from './results';
import { clusterPart, stopClusters } from './scenarios/cluster';
import { crash } from './scenarios/crash';
import { hotPath } from './scenarios/hot-path';
import { lockCycle } from './scenarios/lock-cycle';
import { manyUsers } from './scenarios/many-users';
import { stampede } from './scenarios/stampede';
import { steadyTraffic } from './scenarios/steady';
import { REDLOCK_DURATION_MS } from './strategies/redlock';

/** The whole run is abandoned (children killed) after this long. */
const WATCHDOG_MS = 20 * 60_000;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function main(): Promise<number> {
  const started = performance.now();
  const loadAtStart = loadavg();
  if (loadAtStart[0] > 0.8)
    log(
      `bench: WARNING the 1-minute load average is ${loadAtStart[0].toFixed(2)}: something else is ` +
        'using the CPUs, and the numbers will show it',
    );
  const server = await RedisServer.start();
  const pinning = new Pinning(server.pid);
  const pool = new WorkerPool(server.url);
  const admin = new Redis(server.url);
  const abandon = (why: string): void => {
    log(`bench: ${why}; killing every child process`);
    pool.killAll();
    setTimeout(() => process.exit(1), 2_000).unref();
    void Promise.allSettled([server.stop(), stopClusters()]).finally(() => process.exit(1));
  };
  process.once('SIGINT', () => abandon('interrupted'));
  process.once('SIGTERM', () => abandon('terminated'));
  const watchdog = setTimeout(
    () => abandon(`still running after ${WATCHDOG_MS / 60_000} min`),
    WATCHDOG_MS,
  );
  watchdog.unref();

  const serverInfo = await admin.info('server');
  const subset = CONFIG.only.length < PART_IDS.length;
  const env = [
    ...(CONFIG.quick ? ['BENCH_QUICK=1'] : []),
    ...(subset ? [`BENCH_ONLY=${CONFIG.only.join(',')}`] : []),
  ];
  const results: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      command: [...env, 'npm run bench'].join(' '),
      quick: CONFIG.quick,
      repeats: CONFIG.repeats,
      node: process.version,
      redis: /redis_version:(\S+)/.exec(serverInfo)?.[1] ?? 'unknown',
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      platform: `${process.platform} ${process.arch}`,
      durationSec: 0,
      loadAverageAtStart: loadAtStart.map((x) => Number(x.toFixed(2))),
      loadAverageAtEnd: [],
      pinning: pinning.available
        ? 'scenarios 1-2 pinned with taskset: cross-core = bench CPU 1 / Redis CPU 0, same-core = both CPU 0; scenarios 3-5 unpinned; part 6 cross-core (every redis-server on CPU 0) except its traffic counts; part 7 unpinned'
        : 'unavailable (no taskset or 1 CPU): everything unpinned',
      settings: {
        ...CONFIG,
        library:
          'LoadStatusModule.forRoot({ redis: url, keyPrefix }) with default options (near-cache on, lockTtlMs 3000, waitTimeoutMs 15000)',
        reference:
          'GET flag; SET lock NX PX 30000; plain DEL; poll flag every 100 ms up to 5 s, then error; flag TTL 1 h',
        redlock: `@sesamecare-oss/redlock, one client, default settings (retryCount 10, retryDelay 200 ms, retryJitter 100 ms), duration ${REDLOCK_DURATION_MS} ms`,
        redisSemaphore:
          'redis-semaphore Mutex defaults: lockTimeout 10 s, acquireTimeout 10 s, retryInterval 10 ms, refresh every 8 s',
        asyncMutex: 'async-mutex Mutex per user in each process; flag in Redis',
        ioredis: 'ioredis 6 with its default RESP3 for every client; no library needed protocol: 2',
      },
    },
    errors: [],
  };

  const scenario = async <T>(name: string, body: () => Promise<T>): Promise<T | undefined> => {
    const t = performance.now();
    log(`bench: ${name}…`);
    try {
      const out = await body();
      log(`bench: ${name} done in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      return out;
    } catch (error) {
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log(`bench: ${name} FAILED: ${message}`);
      results.errors.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  };

  const runs = (part: PartId): boolean => CONFIG.only.includes(part);
  try {
    if (runs('hot-path'))
      results.hotPath = await scenario('1. hot path', () => hotPath(server.url, pinning, log));
    if (runs('lock-cycle'))
      results.lockCycle = await scenario('2. lock cycle', () =>
        lockCycle(server.url, pinning, log),
      );
    pinning.release(); // workers inherit this process's CPU affinity
    if (runs('stampede') || runs('many-users') || runs('crash')) {
      const workers = await pool.spawnMany(
        Array.from({ length: CONFIG.stampede.processes }, (_, i) => `w${i + 1}`),
        [...STRATEGY_IDS],
      );
      if (runs('stampede'))
        results.stampede = await scenario('3. stampede', () => stampede(admin, workers, log));
      if (runs('many-users'))
        results.manyUsers = await scenario('5. many users', () => manyUsers(admin, workers, log));
      if (runs('crash'))
        results.crash = await scenario('4. crash', () => crash(pool, workers.slice(0, 3), log));
      await pool.closeAll(); // before part 6: idle workers would only take CPU
    }
    if (runs('cluster')) {
      results.cluster = await scenario('6. Redis Cluster', () => clusterPart(server, log));
      if (results.cluster) results.cluster.targets = evaluateClusterTargets(results.cluster);
    }
    if (runs('steady'))
      results.steady = await scenario('7. steady traffic across TTL expiry', () =>
        steadyTraffic(pool, log),
      );
  } catch (error) {
    results.errors.push(error instanceof Error ? error.message : String(error));
  } finally {
    await pool.closeAll().catch(() => pool.killAll());
    admin.disconnect();
    await stopClusters(); // nothing is left unless part 6 failed mid-way
    await server.stop();
    clearTimeout(watchdog);
  }

  results.meta.durationSec = (performance.now() - started) / 1000;
  results.meta.loadAverageAtEnd = loadavg().map((x) => Number(x.toFixed(2)));
  try {
    results.targets = evaluateTargets(results);
  } catch (error) {
    results.errors.push(`targets: ${error instanceof Error ? error.message : String(error)}`);
  }
  const markdown = renderMarkdown(results);
  const dir = join(__dirname, 'results');
  const base = subset ? `latest-${CONFIG.only.join('+')}` : 'latest';
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${base}.json`), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(dir, `${base}.md`), markdown);
  process.stdout.write(markdown);
  log(`bench: wrote ${join(dir, `${base}.json`)} (and ${base}.md)`);
  return results.errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Nothing should be left, but never hang the terminal on a stray handle.
    setTimeout(() => process.exit(code), 3_000).unref();
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
