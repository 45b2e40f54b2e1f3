/**
 * A bounded chaos run (no Jest; chaos.spec.ts runs it and asserts on the result). N worker
 * processes hammer K users with short-lived loads while the parent injects a planned number of
 * faults, spread over the run: SIGKILLs of workers mid-load (each respawned), Redis kills and
 * restarts (its state lost), and stalls (a worker mid-load frozen with SIGSTOP past its lease
 * while another takes its user over, then let go: its lease is lost). The number of each fault
 * depends on the run's length but never drops below its minimum, however short the run. Every
 * loader run is logged by its worker to an append-only file that survives a SIGKILL, with its
 * lease as the library reported it; every caller is reported as it ends. When the faults stop,
 * one final round requests every user from every worker; then chaos-checker.ts judges it all.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { WORKER_LOAD, type LoadRecord, type RunSpec } from '../fixtures/load-worker.protocol';
import type { RedisServer } from '../support/redis-server';
import type { WorkerModuleOptions } from '../fixtures/load-worker.protocol';
import { uniquePrefix } from '../support/env';
import {
  checkChaos,
  type ChaosHistory,
  type ChaosSettings,
  type ChaosVerdict,
  type Phase,
  type KillEvent,
  type RedisOutage,
  type RequestRecord,
  type StallEvent,
  type WorkerClock,
} from './chaos-checker';
import {
  delay,
  now,
  readWorkerLogs,
  userKey,
  WorkerNotReachedError,
  type LoadWorker,
  type StartOptions,
  type WorkerPool,
} from './cluster';

/** The module options of the workers, and what the bounds below are computed from. */
const LOCK_TTL_MS = 1_000;
const WAIT_TIMEOUT_MS = 15_000;
const COMMAND_TIMEOUT_MS = 1_000;
/** Most loader runs take 50–300 ms; one in ten 1.2–2.5 s (its lease is renewed); stall targets 3 s. */
const MAX_LOAD_MS = 3_000;
/** Event-loop and IPC delays on a busy 2-core machine. */
const SLACK_MS = 1_000;
/** The share of the traffic's loader runs that throw `LoaderFailure`. */
const LOADER_FAIL_RATE = 0.05;
/** The library's default `outageGraceMs`, which the workers run with. */
const OUTAGE_GRACE_MS = 5_000;
/** A stall lasts the lease and then some, so the lease runs out while the holder sleeps. */
const STALL_MS = LOCK_TTL_MS + 600;
/** How long a kill may wait for a worker to be loading (see `kill` in runChaos). */
const KILL_ATTEMPT_MS = 10_000;
/** How long a stall may try to catch a holder mid-load (see `stall` in runChaos). */
const STALL_ATTEMPT_MS = 20_000;
/**
 * The longest a caller may take: waiting (`waitTimeoutMs`) + one last acquire (bounded by
 * `commandTimeoutMs`) + the load + the finish (`commandTimeoutMs`) + slack.
 */
export const CALLER_BUDGET_MS = WAIT_TIMEOUT_MS + 2 * COMMAND_TIMEOUT_MS + MAX_LOAD_MS + SLACK_MS;
/**
 * After Redis restarts empty, how long a holder of the lost state may go on: its client
 * reconnects (ioredis backs off up to ~2 s after a short outage), then its next renewal (every
 * third of the lease) tells it the lock is not its own. Measured in chaos runs; see README.
 */
export const LOSS_DETECTION_MS = 3_000 + LOCK_TTL_MS;
/** After Redis serves again, a worker's client reconnects within this (ioredis backs off ≤ 2 s). */
const RECONNECT_MS = 3_000;
/** A holder that outlived its lease learns at its next renewal (a third of the lease) + slack. */
const NOTICE_MS = Math.ceil(LOCK_TTL_MS / 3) + 300;

/** The least of each fault a run injects, whatever its length (CI runs the shortest). */
export const MIN_FAULTS = { kills: 3, redisRestarts: 2, stalls: 2 } as const;

/**
 * What the chaos runs on and how it fails Redis: a standalone server it kills and restarts
 * empty, or a Cluster / Sentinel group whose master it kills (a replica is promoted).
 */
export interface ChaosTarget {
  /** How the workers reach Redis. */
  start: Pick<StartOptions, 'redisUrl' | 'client' | 'topologyNodes'>;
  /** Extra module options (e.g. `waitForReplicas` on a replicated topology). */
  options?: WorkerModuleOptions;
  /** A client for the parent to read the module's keys. */
  inspector(): ChaosInspector;
  /** What its Redis fault is called in reports. @default 'restarts' */
  faultName?: string;
  /** A Cluster's hash slot of a key (to tell which users a failed master touched). */
  slotOf?(key: string): number;
  /** One Redis fault; resolves with its window (Redis gone at `killedAt`, serving again at `restartedAt`). */
  fault(
    random: (min: number, max: number) => number,
    run: { keyPrefix: string; users: readonly string[] },
  ): Promise<RedisOutage>;
}

/** What the parent reads the module's keys with (an ioredis `Redis` or `Cluster`). */
export interface ChaosInspector {
  exists(key: string): Promise<number>;
  quit(): Promise<unknown>;
  disconnect(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** A standalone server, SIGKILLed and restarted empty after 200–1,500 ms. */
export function standaloneTarget(server: RedisServer): ChaosTarget {
  return {
    start: { redisUrl: server.url },
    inspector: () => new Redis(server.url, { maxRetriesPerRequest: 1 }),
    fault: async (int) => {
      const killedAt = now();
      await server.kill();
      await delay(int(200, 1_500)); // the outage itself
      await server.restart();
      // Serving again: the restarted server answered the readiness check.
      return { killedAt, restartedAt: now(), stateLost: true };
    },
  };
}

export interface ChaosOptions {
  pool: WorkerPool;
  /** Where it runs, and the Redis fault it injects. */
  target: ChaosTarget;
  /** How long faults are injected. */
  durationMs: number;
  processes?: number;
  users?: number;
  /** Seed of the fault and traffic schedule (printed in the summary, to replay a run). */
  seed?: number;
  /** Progress lines (kills, restarts, stalls). */
  log?: (line: string) => void;
}

export interface ChaosResult {
  /** One line with the run's figures, for reports. */
  summary: string;
  verdict: ChaosVerdict;
  /** Violations the parent saw directly (process errors, the final round). */
  violations: string[];
  stats: {
    seed: number;
    processes: number;
    spawned: number;
    users: number;
    kills: number;
    killsMidLoad: number;
    /** Stalls whose frozen holder lost its lease for it (the checker ties each to a run). */
    stallsTied: number;
    redisRestarts: number;
    stalls: number;
    leaseLosses: number;
    loaderRuns: number;
    callers: number;
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

type Fault = 'kill' | 'redis' | 'stall';

const PHASES: Phase[] = ['steady', 'outage', 'recovery', 'stall'];

/** How many of each fault a run of `durationMs` injects: a rate, never below the minimum. */
export function plannedFaults(durationMs: number): Record<Fault, number> {
  return {
    kill: Math.max(MIN_FAULTS.kills, Math.floor(durationMs / 5_000)),
    redis: Math.max(MIN_FAULTS.redisRestarts, Math.floor(durationMs / 10_000)),
    stall: Math.max(MIN_FAULTS.stalls, Math.floor(durationMs / 10_000)),
  };
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const { pool, target, durationMs } = options;
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
    ...target.start,
    runLogDir,
    // fail-closed: while Redis is down nobody loads, so every loader run holds a lease granted by
    // Redis, and every property is checked on every run. (fail-open coordinates per process
    // during an outage, by design.)
    options: {
      onStoreError: 'fail-closed',
      lockTtlMs: LOCK_TTL_MS,
      waitTimeoutMs: WAIT_TIMEOUT_MS,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      ...target.options,
    },
  };
  const settings: ChaosSettings = {
    lockTtlMs: LOCK_TTL_MS,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    outageGraceMs: OUTAGE_GRACE_MS,
    lossDetectionMs: LOSS_DETECTION_MS,
    reconnectMs: RECONNECT_MS,
    noticeMs: NOTICE_MS,
    // outageGraceMs, then one more command.
    finishWindowMs: OUTAGE_GRACE_MS + COMMAND_TIMEOUT_MS,
    waitNeedsMs: LOCK_TTL_MS + MAX_LOAD_MS + SLACK_MS,
    loaderFailRate: LOADER_FAIL_RATE,
  };

  const kills: KillEvent[] = [];
  const stalls: StallEvent[] = [];
  const outages: RedisOutage[] = [];
  const requests: RequestRecord[] = [];
  const clocks: Record<number, WorkerClock> = {};
  const violations: string[] = [];
  let spawned = 0;
  const started = now();

  let stopping = false;
  const live = new Set<LoadWorker>();
  const loops: Promise<void>[] = [];

  /** Sends `spec` to `worker` and records what came back of every caller (killed or not). */
  const request = async (worker: LoadWorker, spec: RunSpec): Promise<LoadRecord[]> => {
    const sentAt = now();
    const run = worker.startRun(spec, CALLER_BUDGET_MS + 5_000);
    const record: RequestRecord = {
      pid: worker.pid,
      worker: worker.name,
      runId: run.runId,
      sentAt,
      expected: spec.userIds.length * spec.callersPerUser,
      reported: [],
      budgetMs: CALLER_BUDGET_MS,
    };
    requests.push(record);
    try {
      const report = await run.report;
      record.reported = report.callers;
      return report.loads;
    } catch (error) {
      // Never received (the worker was exiting): it started no caller, so none is owed.
      if (error instanceof WorkerNotReachedError) record.expected = 0;
      // The worker died (killed) or the run never reported: what it streamed is all there is,
      // and the checker tells the two apart.
      record.reported = worker.callersOf(run.runId);
      return [];
    }
  };

  const traffic = async (worker: LoadWorker): Promise<void> => {
    while (!stopping && worker.isRunning) {
      await request(worker, {
        userIds: Array.from({ length: int(1, 3) }, () => pick(users)).filter(
          (u, i, all) => all.indexOf(u) === i,
        ),
        callersPerUser: int(1, 5),
        loadMs: rng() < 0.1 ? int(1_200, 2_500) : int(50, 300),
        // Flags expire quickly, so users are loaded again and again during the chaos.
        loadedTtlMs: int(100, 800),
        failRate: LOADER_FAIL_RATE,
        mode: 'ensureLoaded',
      });
      await delay(int(10, 60)); // pacing: a request rate, not a wait for a state
    }
  };

  const spawn = async (count: number): Promise<LoadWorker[]> => {
    const workers = await pool.start(count, startOptions);
    spawned += count;
    for (const w of workers) {
      clocks[w.pid] = await w.measureClock();
      live.add(w);
      // Two request streams per process, so calls overlap inside a process too.
      loops.push(traffic(w), traffic(w));
    }
    return workers;
  };

  const running = (): LoadWorker[] => [...live].filter((w) => w.isRunning);

  /**
   * A SIGKILL of a worker in the middle of a load: one that is loading is picked (waiting for
   * one if need be: the traffic starts loads every few ms, but right after a Redis fault nobody
   * may be loading). The checker confirms from the run logs that the kill caught a loader run.
   */
  const kill = async (): Promise<void> => {
    const deadline = now() + KILL_ATTEMPT_MS;
    let loading = running().filter((w) => w.runningLoads().length > 0);
    while (loading.length === 0) {
      if (now() > deadline) throw new Error(`no worker was loading for ${KILL_ATTEMPT_MS} ms`);
      await delay(10); // polling the workers' loader events, which arrive as they happen
      loading = running().filter((w) => w.runningLoads().length > 0);
    }
    const victim = pick(loading);
    await victim.kill('SIGKILL');
    kills.push({ pid: victim.pid, at: victim.killedAt! });
    live.delete(victim);
    log(`SIGKILL ${victim.name} (pid ${victim.pid}) mid-load`);
    await spawn(1);
  };

  const restartRedis = async (): Promise<void> => {
    const outage = await target.fault(int, { keyPrefix, users });
    outages.push(outage);
    log(`Redis down ${Math.round(outage.restartedAt - outage.killedAt)} ms`);
  };

  /**
   * A holder frozen past its lease: it starts a long load of a fresh user, is SIGSTOPped, another
   * worker asks for the same user (and takes it over once the lease ran out), and after the
   * stall the frozen holder's next renewal finds the lock gone: its loader's signal aborts.
   * Only a worker caught mid-load is frozen: right after a failover a worker may still be
   * reconnecting (fail-closed, its request fails and no loader starts), and freezing it then
   * tests nothing; such an attempt is retried with a fresh user, until STALL_ATTEMPT_MS.
   */
  let stallCount = 0;
  const stall = async (): Promise<void> => {
    const deadline = now() + STALL_ATTEMPT_MS;
    for (;;) {
      const [victim, other] = [...running()].sort(() => rng() - 0.5);
      const user = `stalled-${++stallCount}`;
      const spec: RunSpec = {
        userIds: [user],
        callersPerUser: 2,
        loadMs: MAX_LOAD_MS,
        mode: 'ensureLoaded',
      };
      const victimRun = request(victim, spec);
      const midLoad = await Promise.race([
        victim
          .loaderStarted((r) => r.userId === user, Math.max(1, deadline - now()))
          .then(
            () => true,
            () => false,
          ),
        victimRun.then(() => false),
      ]);
      if (!midLoad) {
        await victimRun;
        if (now() > deadline)
          throw new Error(`no stall caught a holder mid-load in ${STALL_ATTEMPT_MS} ms`);
        log(`stall: ${victim.name} did not start loading ${user}; trying a fresh user`);
        continue;
      }
      const freeze = victim.stall(STALL_MS);
      const takeover = request(other, { ...spec, loadMs: 100 });
      const { stoppedAt, resumedAt } = await freeze;
      stalls.push({ pid: victim.pid, stoppedAt, resumedAt });
      log(`SIGSTOP ${victim.name} for ${Math.round(resumedAt - stoppedAt)} ms mid-load`);
      await Promise.all([victimRun, takeover]);
      return;
    }
  };

  const planned = plannedFaults(durationMs);
  const faults: Fault[] = [
    ...Array<Fault>(planned.kill).fill('kill'),
    ...Array<Fault>(planned.redis).fill('redis'),
    ...Array<Fault>(planned.stall).fill('stall'),
  ].sort(() => rng() - 0.5);
  const slotMs = durationMs / faults.length;

  let inspect: ChaosInspector | undefined;
  try {
    await spawn(processes);
    // One fault at a time, one per slot (at a random point in it): every planned fault happens,
    // and each one's effects are its own.
    for (const [i, fault] of faults.entries()) {
      await delay(started + i * slotMs + rng() * slotMs * 0.5 - now());
      if (fault === 'kill') await kill();
      else if (fault === 'redis') await restartRedis();
      else await stall();
    }
    await delay(started + durationMs - now());
    stopping = true;
    // Let every request stream finish its run (streams of killed workers end at once).
    for (let i = 0; i < loops.length; i++) await loops[i];

    // From here on, no faults. Make sure every process talks to Redis again (a successful call
    // with fail-closed proves it), then let the short-lived flags of the chaos expire, so the
    // final round has to load every user (with the default, long TTL).
    const workers = running();
    inspect = target.inspector();
    inspect.on('error', () => undefined);
    for (const w of workers) {
      const deadline = now() + 10_000;
      for (let n = 0; ; n++) {
        const before = requests.length;
        await request(w, {
          userIds: [`probe-${w.name}-${n}`],
          callersPerUser: 1,
          loadMs: 0,
          mode: 'ensureLoaded',
        });
        // A probe that fails counts like any caller: past the recovery bound, as a violation.
        if (requests[before].reported.every((c) => c.ok)) break;
        if (now() > deadline) {
          violations.push(`${w.name} did not get back to Redis within 10 s after the chaos`);
          break;
        }
        await delay(50); // retry pacing while it reconnects (ioredis backoff)
      }
    }
    const flags = users.map((u) => userKey(keyPrefix, u, 'loaded', WORKER_LOAD));
    const flagDeadline = now() + 5_000;
    // One key per EXISTS: a Cluster refuses a multi-key command across slots.
    const anyLeft = async () =>
      (await Promise.all(flags.map((k) => inspect!.exists(k)))).some((n) => n > 0);
    while (await anyLeft()) {
      if (now() > flagDeadline) {
        violations.push('short-lived flags of the chaos did not expire');
        break;
      }
      await delay(50);
    }

    const finalLoads = (
      await Promise.all(
        workers.map((w) =>
          request(w, { userIds: users, callersPerUser: 2, loadMs: 50, mode: 'ensureLoaded' }),
        ),
      )
    ).flat();
    for (const u of users) {
      const n = finalLoads.filter((l) => l.userId === u).length;
      if (n !== 1) violations.push(`final round: ${u} was loaded ${n} times (expected once)`);
    }
    const loaded = await Promise.all(flags.map((k) => inspect!.exists(k)));
    const notLoaded = users.filter((_, i) => loaded[i] !== 1);
    if (notLoaded.length > 0)
      violations.push(`not loaded in Redis after the final round: ${notLoaded.join(', ')}`);

    for (const e of pool.processErrors())
      violations.push(`${e.worker} (pid ${e.pid}) ${e.kind}: ${e.message}`);

    const { runs, storeEvents } = readWorkerLogs(runLogDir);
    const userSlots: Record<string, number> = {};
    if (target.slotOf)
      for (const r of [...runs, ...requests.flatMap((q) => q.reported)])
        userSlots[r.userId] ??= target.slotOf(userKey(keyPrefix, r.userId, 'lock', WORKER_LOAD));
    const history: ChaosHistory = {
      runs,
      requests,
      kills,
      stalls,
      outages,
      storeEvents,
      clocks,
      userSlots,
      settings,
    };
    const verdict = checkChaos(history);
    const stats: ChaosResult['stats'] = {
      seed,
      processes,
      spawned,
      users: userCount,
      kills: kills.length,
      killsMidLoad: verdict.killsMidLoad,
      stallsTied: verdict.stallsTied,
      redisRestarts: outages.length,
      stalls: stalls.length,
      leaseLosses: verdict.leaseLosses,
      loaderRuns: runs.length,
      callers: verdict.callers.reported,
      finalRoundLoads: finalLoads.length,
      durationMs: Math.round(now() - started),
    };
    const phaseText = (phase: Phase): string => {
      const { callers, failed, errors } = verdict.phases[phase];
      const names = Object.entries(errors)
        .sort(([, a], [, b]) => b - a)
        .map(([name, n]) => `${name}=${n}`)
        .join(' ');
      const rate = callers === 0 ? 0 : (100 * failed) / callers;
      return `${phase} ${failed}/${callers} (${rate.toFixed(1)} %${names ? `: ${names}` : ''})`;
    };
    const maxClockMs = Math.max(...Object.values(clocks).map((c) => c.uncertaintyMs));
    // A failing run leaves its whole history behind, for the checker to be re-run on it.
    let historyFile = '';
    if (verdict.violations.length + violations.length > 0) {
      historyFile = join(tmpdir(), `load-status-chaos-${seed}-${process.pid}.json`);
      writeFileSync(historyFile, JSON.stringify({ history, violations, verdict }));
    }
    const summary =
      `chaos: processes=${processes} (spawned ${spawned}), users=${userCount}, ` +
      `faults for ${Math.round(durationMs / 1000)} s (total ${Math.round(stats.durationMs / 1000)} s), ` +
      `kills=${kills.length} (mid-load ${verdict.killsMidLoad}), redis ${target.faultName ?? 'restarts'}=${outages.length}, ` +
      `stalls=${stalls.length} (tied to a lease loss ${verdict.stallsTied}; lease losses ${verdict.leaseLosses}), ` +
      `loader runs=${runs.length}, ` +
      `callers=${verdict.callers.reported} (killed ${verdict.callers.killed}, hung ${verdict.callers.hung}), ` +
      `failed callers by phase: ${PHASES.map(phaseText).join(', ')}; overlaps across a lost lock state: ` +
      `${verdict.crossIncarnationOverlaps.count} (max ${verdict.crossIncarnationOverlaps.maxMs} ms); ` +
      `clock bound ±${maxClockMs.toFixed(2)} ms; ` +
      `violations=${verdict.violations.length + violations.length}; seed=${seed}` +
      (historyFile ? `; history in ${historyFile}` : '');
    return { summary, verdict, violations, stats };
  } finally {
    stopping = true;
    await inspect?.quit().catch(() => inspect?.disconnect());
    rmSync(runLogDir, { recursive: true, force: true });
  }
}
