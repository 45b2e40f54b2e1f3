/**
 * Multi-process harness: starts load workers (test/fixtures/load-worker.ts) as real Node
 * processes sharing one Redis, barrier-starts runs across them, collects what every caller and
 * every loader saw, and always stops them — `workerPool()` registers an `afterEach` that closes
 * every worker (SIGKILL if it does not exit), even when the test failed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import {
  loaderRunsKey,
  type CallerResult,
  type LoadRecord,
  type RunReport,
  type RunSpec,
  type WorkerConfig,
  type WorkerMessage,
  type WorkerModuleOptions,
} from '../fixtures/load-worker.protocol';
import { redisUrl } from '../support/env';

const ROOT = resolve(__dirname, '..', '..');
const WORKER_SCRIPT = join(ROOT, 'test', 'fixtures', 'load-worker.ts');

export const READY_TIMEOUT_MS = 20_000;
export const RUN_TIMEOUT_MS = 20_000;
/** How long `close()` waits for a worker to exit by itself before it is killed. */
export const CLOSE_TIMEOUT_MS = 6_000;
/** Lead time of a barrier start, so every worker has the command before the moment comes. */
export const BARRIER_LEAD_MS = 60;

export interface WorkerExit {
  worker: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the worker was asked to close (`close` message). */
  closeRequested: boolean;
  /** True when it was asked to close and exited by itself with code 0. */
  clean: boolean;
  /** What it printed (stdout and stderr). */
  output: string;
}

export interface StartOptions {
  keyPrefix: string;
  options?: WorkerModuleOptions;
  /** Names are `${namePrefix}${index}`. @default 'w' */
  namePrefix?: string;
  redisUrl?: string;
}

/** Wall-clock ms, comparable with the workers' timestamps. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

interface Pending<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

/** One worker process. Create it through {@link WorkerPool.start}. */
export class LoadWorker {
  readonly pid: number;
  /** Every `loader-start` / `loader-end` event, in arrival order. */
  readonly loaderEvents: { type: 'loader-start' | 'loader-end'; record: LoadRecord }[] = [];
  readonly ready: Promise<void>;
  /** Settles when the process is gone and its pipes are closed. */
  readonly exited: Promise<WorkerExit>;
  private output = '';
  private nextRunId = 1;
  private readonly runs = new Map<number, Pending<RunReport>>();
  private readonly loaderWatchers = new Set<{
    match: (record: LoadRecord) => boolean;
    resolve: (record: LoadRecord) => void;
  }>();
  private closeRequested = false;
  private gone = false;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    if (child.pid === undefined) throw new Error(`worker ${name} did not start`);
    this.pid = child.pid;
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise<WorkerExit>((resolveExit) => {
      child.once('close', (code, signal) => {
        this.gone = true;
        const exit: WorkerExit = {
          worker: name,
          code,
          signal,
          closeRequested: this.closeRequested,
          clean: this.closeRequested && code === 0,
          output: this.output,
        };
        const error = new Error(
          `worker ${name} (pid ${this.pid}) exited (code ${code}, signal ${signal}) before answering.${this.describeOutput()}`,
        );
        for (const run of this.runs.values()) run.reject(error);
        this.runs.clear();
        resolveExit(exit);
      });
    });
    this.ready = new Promise<void>((resolveReady, rejectReady) => {
      const timer = setTimeout(() => {
        rejectReady(
          new Error(
            `worker ${name} not ready after ${READY_TIMEOUT_MS} ms.${this.describeOutput()}`,
          ),
        );
      }, READY_TIMEOUT_MS);
      const settle = (error?: Error) => {
        clearTimeout(timer);
        if (error) rejectReady(error);
        else resolveReady();
      };
      child.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready') settle();
        else if (message.type === 'fatal')
          settle(new Error(`worker ${name} failed to boot: ${message.message}`));
        else this.onMessage(message);
      });
      void this.exited.then((exit) =>
        settle(
          new Error(
            `worker ${name} exited (code ${exit.code}, signal ${exit.signal}) before it was ready.${this.describeOutput()}`,
          ),
        ),
      );
    });
    this.ready.catch(() => undefined);
  }

  get isRunning(): boolean {
    return !this.gone;
  }

  /** Fires `callersPerUser` concurrent calls per user in the worker; resolves with its report. */
  run(spec: RunSpec, timeoutMs = RUN_TIMEOUT_MS): Promise<RunReport> {
    const runId = this.nextRunId++;
    return new Promise<RunReport>((resolveRun, rejectRun) => {
      if (this.gone) {
        rejectRun(new Error(`worker ${this.name} is not running`));
        return;
      }
      const timer = setTimeout(() => {
        this.runs.delete(runId);
        rejectRun(
          new Error(
            `worker ${this.name}: run ${runId} did not finish within ${timeoutMs} ms.${this.describeOutput()}`,
          ),
        );
      }, timeoutMs);
      this.runs.set(runId, {
        resolve: (report) => {
          clearTimeout(timer);
          resolveRun(report);
        },
        reject: (error) => {
          clearTimeout(timer);
          rejectRun(error);
        },
      });
      this.child.send({ type: 'run', runId, ...spec });
    });
  }

  /**
   * Resolves with the first loader start in this worker matching `match` (earlier ones count);
   * rejects if none comes within `timeoutMs` or the worker exits.
   */
  loaderStarted(
    match: (record: LoadRecord) => boolean = () => true,
    timeoutMs = RUN_TIMEOUT_MS,
  ): Promise<LoadRecord> {
    const seen = this.loaderEvents.find((e) => e.type === 'loader-start' && match(e.record));
    if (seen) return Promise.resolve(seen.record);
    return new Promise<LoadRecord>((resolveStart, rejectStart) => {
      const watcher = {
        match,
        resolve: (record: LoadRecord) => {
          clearTimeout(timer);
          this.loaderWatchers.delete(watcher);
          resolveStart(record);
        },
      };
      const timer = setTimeout(() => {
        this.loaderWatchers.delete(watcher);
        rejectStart(new Error(`worker ${this.name}: no matching loader start in ${timeoutMs} ms`));
      }, timeoutMs);
      this.loaderWatchers.add(watcher);
    });
  }

  /** Asks the worker to close its app and exit; kills it if it has not exited in time. */
  async close(timeoutMs = CLOSE_TIMEOUT_MS): Promise<WorkerExit> {
    if (!this.gone && this.child.connected) {
      this.closeRequested = true;
      this.child.send({ type: 'close' }, (error) => {
        if (error) this.child.kill('SIGKILL');
      });
    }
    return this.killAfter(timeoutMs);
  }

  /** Kills the process (SIGKILL by default: a crash) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<WorkerExit> {
    if (!this.gone) this.child.kill(signal);
    return this.killAfter(CLOSE_TIMEOUT_MS);
  }

  describeOutput(): string {
    const text = this.output.trim();
    return text ? `\n--- output of worker ${this.name} ---\n${text.slice(-4000)}` : '';
  }

  private async killAfter(timeoutMs: number): Promise<WorkerExit> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
    const result = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (result !== 'late') return result;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  private onMessage(message: WorkerMessage): void {
    switch (message.type) {
      case 'result': {
        const { type: _type, ...report } = message;
        const pending = this.runs.get(report.runId);
        this.runs.delete(report.runId);
        pending?.resolve(report);
        break;
      }
      case 'loader-start':
      case 'loader-end':
        this.loaderEvents.push({ type: message.type, record: message.record });
        if (message.type === 'loader-start') {
          for (const watcher of [...this.loaderWatchers])
            if (watcher.match(message.record)) watcher.resolve(message.record);
        }
        break;
      default:
        break;
    }
  }
}

/** The workers of one test. Use {@link workerPool} to get one that cleans up after each test. */
export class WorkerPool {
  private readonly workers = new Set<LoadWorker>();

  /** Starts `count` workers and resolves once every one is ready (the barrier before a stampede). */
  async start(count: number, options: StartOptions): Promise<LoadWorker[]> {
    const started: LoadWorker[] = [];
    for (let i = 0; i < count; i++) {
      const name = `${options.namePrefix ?? 'w'}${this.workers.size}`;
      const config: WorkerConfig = {
        name,
        redisUrl: options.redisUrl ?? redisUrl(),
        keyPrefix: options.keyPrefix,
        options: options.options ?? {},
      };
      const child = fork(WORKER_SCRIPT, [], {
        cwd: ROOT,
        execArgv: ['-r', '@swc-node/register'],
        env: { ...process.env, LOAD_WORKER_CONFIG: JSON.stringify(config) },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        serialization: 'advanced',
      });
      const worker = new LoadWorker(name, child);
      this.workers.add(worker);
      started.push(worker);
    }
    await Promise.all(started.map((w) => w.ready));
    return started;
  }

  /**
   * Sends the same run to every worker with one start time a little ahead, so all of them fire
   * their calls at the same moment; resolves with every report.
   */
  runTogether(workers: LoadWorker[], spec: RunSpec): Promise<RunReport[]> {
    const startAt = now() + BARRIER_LEAD_MS;
    return Promise.all(workers.map((w) => w.run({ ...spec, startAt })));
  }

  /**
   * Closes every worker still running (killing any that does not exit in time) and forgets them.
   * Resolves with how each one ended.
   */
  async closeAll(): Promise<WorkerExit[]> {
    const workers = [...this.workers];
    this.workers.clear();
    return Promise.all(workers.map((w) => (w.isRunning ? w.close() : w.exited)));
  }
}

/**
 * A pool whose workers are closed after each test, pass or fail. The hook fails the test if a
 * worker asked to close did not exit cleanly by itself (e.g. an open handle after `app.close()`).
 */
export function workerPool(): WorkerPool {
  const pool = new WorkerPool();
  afterEach(async () => {
    const exits = await pool.closeAll();
    const unclean = exits.filter((e) => e.closeRequested && !e.clean);
    if (unclean.length > 0)
      throw new Error(
        `workers did not shut down cleanly after app.close(): ${unclean
          .map((e) => `${e.worker} (code ${e.code}, signal ${e.signal})\n${e.output.slice(-2000)}`)
          .join('\n')}`,
      );
  });
  return pool;
}

export function callersOf(reports: RunReport[]): CallerResult[] {
  return reports.flatMap((r) => r.callers);
}

export function loadsOf(reports: RunReport[]): LoadRecord[] {
  return reports.flatMap((r) => r.loads);
}

/** Callers that failed, in a readable form for assertion messages. */
export function failures(callers: CallerResult[]): string[] {
  return callers
    .filter((c) => !c.ok)
    .map((c) => `${c.worker} ${c.userId}: ${c.errorName}: ${c.errorMessage}`);
}

/** Loader runs per user as the loaders counted them in Redis (HINCRBY). */
export async function loaderRunsInRedis(
  redis: Redis,
  keyPrefix: string,
): Promise<Record<string, number>> {
  const raw = await redis.hgetall(loaderRunsKey(keyPrefix));
  return Object.fromEntries(Object.entries(raw).map(([user, n]) => [user, Number(n)]));
}

/** The design's key layout: `prefix:{encodedUser}:loaded|lock|fence`. */
export function userKey(keyPrefix: string, userId: string, kind: 'loaded' | 'lock' | 'fence') {
  return `${keyPrefix}:{${encodeURIComponent(userId)}}:${kind}`;
}
