/**
 * A bounded chaos run (no Jest; chaos.spec.ts runs it and asserts on the result). N worker
 * processes hammer K users with short-lived loads while the parent SIGKILLs random workers
 * (respawning each) and kills and restarts Redis; every loader run is logged by its worker to an
 * append-only file that survives the SIGKILL. When the faults stop, one final round requests
 * every user from every worker; then chaos-checker.ts judges the whole history.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { CallerResult, LoadRecord, RunSpec } from '../fixtures/load-worker.protocol';
import type { RedisServer } from '../support/redis-server';
import { uniquePrefix } from '../support/env';
import {
  checkChaos,
  type CallerWithBudget,
  type ChaosVerdict,
  type KillEvent,
  type RedisOutage,
} from './chaos-checker';
import {
  delay,
  now,
  readRunLogs,
  userKey,
  type LoadWorker,
  type StartOptions,
  type WorkerPool,
} from './cluster';

/** Module defaults the budget below is computed from (README, "Options"). */
const WAIT_TIMEOUT_MS = 15_000;
const COMMAND_TIMEOUT_MS = 1_000;
/** Most loader runs take 50–300 ms; one in ten takes 1.2–2.5 s, so its lease gets extended. */
const MAX_LOAD_MS = 2_500;
/** Event-loop and IPC delays on a busy 2-core machine. */
const SLACK_MS = 1_000;
/**
 * The longest a caller may take: waiting (`waitTimeoutMs`) + one last acquire (bounded by
 * `commandTimeoutMs`) + the load + the finish (`commandTimeoutMs`) + slack.
 */
export const CALLER_BUDGET_MS = WAIT_TIMEOUT_MS + 2 * COMMAND_TIMEOUT_MS + MAX_LOAD_MS + SLACK_MS;

export interface ChaosOptions {
  pool: WorkerPool;
  /** The Redis to kill and restart (owned by the caller, running). */
  server: RedisServer;
  /** How long faults are injected. */
  durationMs: number;
  processes?: number;
  users?: number;
  /** Seed of the fault and traffic schedule (printed in the summary, to replay a run). */
  seed?: number;
  /** Progress lines (kills, restarts). */
  log?: (line: string) => void;
}

export interface ChaosResult {
  /** One line with the run's figures, for reports. */
  summary: string;
  verdict: ChaosVerdict;
  /** Violations the parent saw directly (runs that never reported, process errors, final round). */
  violations: string[];
  stats: {
    seed: number;
    processes: number;
    spawned: number;
    users: number;
    kills: number;
    killsMidLoad: number;
    redisRestarts: number;
    loaderRuns: number;
    callers: number;
    callersLostWithKilledWorkers: number;
    finalRoundLoads: number;
    durationMs: number;
  };
}

/** A small seeded PRNG (mulberry32), so a schedule can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const { pool, server, durationMs } = options;
  const processes = options.processes ?? 4;
  const userCount = options.users ?? 20;
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const rng = random(seed);
  const int = (min: number, max: number): number => min + Math.floor(rng() * (max - min + 1));
  const pick = <T>(items: T[]): T => items[Math.floor(rng() * items.length)];
  const log = options.log ?? (() => undefined);

  const keyPrefix = uniquePrefix('chaos');
  const users = Array.from({ length: userCount }, (_, i) => `user-${i}`);
  const runLogDir = mkdtempSync(join(tmpdir(), 'load-status-chaos-'));
  const startOptions: StartOptions = {
    keyPrefix,
    redisUrl: server.url,
    runLogDir,
    // fail-closed: while Redis is down nobody loads, so every loader run holds a lease granted by
    // Redis and carries a fencing token; the lease and token checks then cover every run. (With
    // fail-open, runs during an outage are coordinated per process only, by design, and could
    // overlap across processes without violating anything.)
    options: { onStoreError: 'fail-closed' },
  };

  const kills: KillEvent[] = [];
  const outages: RedisOutage[] = [];
  const callers: CallerWithBudget[] = [];
  const violations: string[] = [];
  let killsMidLoad = 0;
  let spawned = 0;
  let callersLost = 0;
  const started = now();

  let stopping = false;
  let wakeSleepers: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (wakeSleepers = r));
  /** A scheduled pause between faults that ends early when the chaos stops. */
  const pause = (ms: number): Promise<void> => Promise.race([delay(ms), stopped]);

  const live = new Set<LoadWorker>();
  const loops: Promise<void>[] = [];

  const record = (list: CallerResult[]): void => {
    for (const caller of list) callers.push({ caller, budgetMs: CALLER_BUDGET_MS });
  };

  const traffic = async (worker: LoadWorker): Promise<void> => {
    while (!stopping && worker.isRunning) {
      const spec: RunSpec = {
        userIds: Array.from({ length: int(1, 3) }, () => pick(users)).filter(
          (u, i, all) => all.indexOf(u) === i,
        ),
        callersPerUser: int(1, 5),
        loadMs: rng() < 0.1 ? int(1_200, MAX_LOAD_MS) : int(50, 300),
        // Flags expire quickly, so users are loaded again and again during the chaos.
        loadedTtlMs: int(100, 800),
        failRate: 0.05,
        mode: 'ensureLoaded',
      };
      try {
        record((await worker.run(spec, CALLER_BUDGET_MS + 5_000)).callers);
      } catch (error) {
        if (worker.killedAt !== undefined) callersLost += spec.userIds.length * spec.callersPerUser;
        else violations.push(`a run in ${worker.name} never reported: ${(error as Error).message}`);
      }
      await delay(int(10, 60)); // pacing: a request rate, not a wait for a state
    }
  };

  const spawn = async (count: number): Promise<LoadWorker[]> => {
    const workers = await pool.start(count, startOptions);
    spawned += count;
    for (const w of workers) {
      live.add(w);
      // Two request streams per process, so calls overlap inside a process too.
      loops.push(traffic(w), traffic(w));
    }
    return workers;
  };

  const killer = async (): Promise<void> => {
    while (!stopping) {
      await pause(int(1_000, 3_000));
      if (stopping) break;
      const running = [...live].filter((w) => w.isRunning);
      const loading = running.filter((w) => w.runningLoads().length > 0);
      // Mostly a worker in the middle of a load: that is what takeover is about.
      const victim = pick(loading.length > 0 && rng() < 0.8 ? loading : running);
      const midLoad = victim.runningLoads().length > 0;
      await victim.kill('SIGKILL');
      kills.push({ pid: victim.pid, at: victim.killedAt! });
      if (midLoad) killsMidLoad++;
      live.delete(victim);
      log(`SIGKILL ${victim.name} (pid ${victim.pid})${midLoad ? ' mid-load' : ''}`);
      await spawn(1);
    }
  };

  const redisChaos = async (): Promise<void> => {
    while (!stopping) {
      await pause(int(3_000, 7_000));
      if (stopping) break;
      const killedAt = now();
      await server.kill();
      const outageMs = int(200, 1_500);
      await delay(outageMs); // the outage itself
      const restartedAt = now();
      await server.restart();
      outages.push({ killedAt, restartedAt });
      log(`Redis down ${Math.round(restartedAt - killedAt)} ms`);
    }
  };

  let faults: Promise<unknown> | undefined;
  try {
    await spawn(processes);
    faults = Promise.all([killer(), redisChaos()]);
    await delay(durationMs);
    stopping = true;
    wakeSleepers();
    await faults;
    // Let every request stream finish its run (streams of killed workers end at once).
    for (let i = 0; i < loops.length; i++) await loops[i];

    // From here on, no faults. Make sure every process talks to Redis again (a successful call
    // with fail-closed proves it), then let the short-lived flags of the chaos expire, so the
    // final round has to load every user (with the default, long TTL).
    const workers = [...live];
    const inspect = new Redis(server.url, { maxRetriesPerRequest: 1 });
    inspect.on('error', () => undefined);
    try {
      for (const w of workers) {
        const deadline = now() + 10_000;
        for (let n = 0; ; n++) {
          const report = await w.run({
            userIds: [`probe-${w.name}-${n}`],
            callersPerUser: 1,
            loadMs: 0,
            mode: 'ensureLoaded',
          });
          record(report.callers);
          if (report.callers.every((c) => c.ok)) break;
          if (now() > deadline) {
            violations.push(`${w.name} did not get back to Redis within 10 s after the chaos`);
            break;
          }
          await delay(50); // retry pacing while it reconnects (ioredis backoff)
        }
      }
      const flags = users.map((u) => userKey(keyPrefix, u, 'loaded'));
      const flagDeadline = now() + 5_000;
      while ((await inspect.exists(...flags)) > 0) {
        if (now() > flagDeadline) {
          violations.push('short-lived flags of the chaos did not expire');
          break;
        }
        await delay(50);
      }

      const final = await pool.runTogether(
        workers,
        { userIds: users, callersPerUser: 2, loadMs: 50, mode: 'ensureLoaded' },
        CALLER_BUDGET_MS + 5_000,
      );
      const finalCallers = final.flatMap((r) => r.callers);
      record(finalCallers);
      for (const c of finalCallers.filter((c) => !c.ok))
        violations.push(`final round: ${c.worker} ${c.userId}: ${c.errorName}: ${c.errorMessage}`);
      const finalLoads: LoadRecord[] = final.flatMap((r) => r.loads);
      for (const u of users) {
        const n = finalLoads.filter((l) => l.userId === u).length;
        if (n !== 1) violations.push(`final round: ${u} was loaded ${n} times (expected once)`);
      }
      // (d) every requested user ended loaded.
      const loaded = await Promise.all(flags.map((k) => inspect.exists(k)));
      const notLoaded = users.filter((_, i) => loaded[i] !== 1);
      if (notLoaded.length > 0)
        violations.push(`not loaded in Redis after the final round: ${notLoaded.join(', ')}`);

      for (const e of pool.processErrors())
        violations.push(`${e.worker} (pid ${e.pid}) ${e.kind}: ${e.message}`);

      const runs = readRunLogs(runLogDir);
      const verdict = checkChaos({ runs, kills, outages, callers });
      const stats: ChaosResult['stats'] = {
        seed,
        processes,
        spawned,
        users: userCount,
        kills: kills.length,
        killsMidLoad,
        redisRestarts: outages.length,
        loaderRuns: runs.length,
        callers: callers.length,
        callersLostWithKilledWorkers: callersLost,
        finalRoundLoads: finalLoads.length,
        durationMs: Math.round(now() - started),
      };
      const errors =
        Object.entries(verdict.errorsByType)
          .sort(([, a], [, b]) => b - a)
          .map(([name, n]) => `${name}=${n}`)
          .join(' ') || 'none';
      const summary =
        `chaos: processes=${processes} (spawned ${spawned}), users=${userCount}, ` +
        `faults for ${Math.round(durationMs / 1000)} s (total ${Math.round(stats.durationMs / 1000)} s), ` +
        `kills=${kills.length} (mid-load ${killsMidLoad}), redis restarts=${outages.length}, ` +
        `loader runs=${runs.length} (leases ended by: run end ${verdict.leaseEnds.end}, ` +
        `process kill ${verdict.leaseEnds.processKilled}, signal abort ${verdict.leaseEnds.signalAborted}, ` +
        `Redis restart ${verdict.leaseEnds.redisLost}), ` +
        `callers=${callers.length} (+${callersLost} lost with killed workers), ` +
        `caller errors: ${errors}; violations=${verdict.violations.length + violations.length}; seed=${seed}`;
      return { summary, verdict, violations, stats };
    } finally {
      await inspect.quit().catch(() => inspect.disconnect());
    }
  } finally {
    stopping = true;
    wakeSleepers();
    await faults?.catch(() => undefined);
    rmSync(runLogDir, { recursive: true, force: true });
  }
}
