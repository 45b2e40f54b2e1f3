/**
 * Multi-process harness, core (no Jest): starts load workers (test/fixtures/load-worker.ts) as
 * real Node processes sharing one Redis, barrier-starts runs across them, collects what every
 * caller and every loader saw, and stops them. Jest specs use it through ./harness.ts, whose
 * `workerPool()` also closes every worker after each test; scripts (bench/) use this file directly.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import {
  loaderRunsKey,
  type CallerResult,
  type LoadRecord,
  type ProcessErrorReport,
  type RunLogEntry,
  type StoreEventRecord,
  type RunReport,
  type RunSpec,
  type WorkerConfig,
  type WorkerMessage,
  type WorkerModuleOptions,
} from '../fixtures/load-worker.protocol';
import { now, sleep as delay } from '../support/clock';

/**
 * Workers run below the servers' priority (niceness 0): on a small machine, app processes that
 * use every core must not starve the Redis nodes and sentinels the test stands in for, which in
 * production run elsewhere. A sentinel starved past `down-after-milliseconds` fails a healthy
 * master over on its own, an outage the test did not make (seen on Node 26: a second failover a
 * second after the test's own).
 */
const WORKER_NICENESS = 5;
import { redisUrl } from '../support/env';
import type { ClientFlavour, TopologyFlavour } from '../support/redis-clients';

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
  /** @default 'ioredis-url' */
  client?: ClientFlavour | TopologyFlavour;
  /** With a topology flavour: the Cluster's startup nodes, or the Sentinel group's sentinels. */
  topologyNodes?: Array<{ host: string; port: number }>;
  /** Where loaders count their runs (HINCRBY), when not `redisUrl`. */
  counterRedisUrl?: string;
  /** Each worker appends its loader runs to `${runLogDir}/${name}.jsonl` (see {@link readRunLogs}). */
  runLogDir?: string;
}

// Wall-clock ms (comparable with the workers' timestamps), and a sleep for scheduled faults —
// never to wait for a state (use events for that).
export { now, delay };

/** Resolves at wall-clock time `at` (see {@link now}). */
export function at(time: number): Promise<void> {
  return delay(time - now());
}

interface Pending<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

export type LoaderEvent = { type: 'loader-start' | 'loader-end'; record: LoadRecord };

/** A run sent to a worker: its id (for `finishLoad`) and its report. */
export interface StartedRun {
  worker: LoadWorker;
  runId: number;
  report: Promise<RunReport>;
}

/** A message the worker never received: it had exited, or its channel had closed as it exited. */
export class WorkerNotReachedError extends Error {
  constructor(worker: string, cause?: unknown) {
    super(`worker ${worker} is not running`, { cause });
  }
}

/** One worker process. Create it through {@link WorkerPool.start}. */
export class LoadWorker {
  readonly pid: number;
  /** Every `loader-start` / `loader-end` event, in arrival order. */
  readonly loaderEvents: LoaderEvent[] = [];
  /** Unhandled rejections and uncaught exceptions the worker reported. */
  readonly processErrors: ProcessErrorReport[] = [];
  readonly ready: Promise<void>;
  /** Settles when the process is gone and its pipes are closed. */
  readonly exited: Promise<WorkerExit>;
  /** Wall-clock ms at which the worker started `app.close()` (its own clock), once it did. */
  closingAt: number | undefined;
  /** Wall-clock ms right after this harness sent it SIGKILL, if it did. */
  killedAt: number | undefined;
  private output = '';
  private nextRunId = 1;
  private readonly runs = new Map<number, Pending<RunReport>>();
  private nextRequestId = 1;
  private readonly requests = new Map<number, Pending<{ loaded?: boolean; errorName?: string }>>();
  private readonly loaderListeners = new Set<(event: LoaderEvent) => void>();
  /** Users a flight of this worker waited on (`wait-started`), in order. */
  readonly waitStarts: Array<{ userId: string; at: number }> = [];
  private readonly waitListeners = new Set<() => void>();
  /** Callers of each run, as the worker reported them one by one. */
  private readonly streamed = new Map<number, CallerResult[]>();
  private readonly clockRequests = new Map<number, Pending<number>>();
  private closeRequested = false;
  private gone = false;

  constructor(
    readonly name: string,
    /** The client name of its module's Redis connections (`CLIENT LIST`). */
    readonly connectionName: string,
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
        for (const request of this.requests.values()) request.reject(error);
        this.requests.clear();
        for (const request of this.clockRequests.values()) request.reject(error);
        this.clockRequests.clear();
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

  /**
   * Sends `message`; `undelivered` hears of it (once) if the worker is gone or its channel has
   * closed (it is exiting): never an 'error' event on the child, which would fail the test.
   */
  private deliver(message: object, undelivered: (error: WorkerNotReachedError) => void): void {
    if (this.gone || !this.child.connected) {
      undelivered(new WorkerNotReachedError(this.name));
      return;
    }
    this.child.send(message, (error) => {
      if (error) undelivered(new WorkerNotReachedError(this.name, error));
    });
  }

  get isRunning(): boolean {
    return !this.gone;
  }

  /** Fires `callersPerUser` concurrent calls per user in the worker; resolves with its report. */
  run(spec: RunSpec, timeoutMs = RUN_TIMEOUT_MS): Promise<RunReport> {
    return this.startRun(spec, timeoutMs).report;
  }

  /** Like {@link run}, but also gives the run's id (for {@link finishLoad}). */
  startRun(spec: RunSpec, timeoutMs = RUN_TIMEOUT_MS): StartedRun {
    const runId = this.nextRunId++;
    const report = new Promise<RunReport>((resolveRun, rejectRun) => {
      const timer = setTimeout(() => {
        this.runs.delete(runId);
        rejectRun(
          new Error(
            `worker ${this.name}: run ${runId} did not finish within ${timeoutMs} ms.${this.describeOutput()}`,
          ),
        );
      }, timeoutMs);
      this.runs.set(runId, {
        resolve: (r) => {
          clearTimeout(timer);
          resolveRun(r);
        },
        reject: (error) => {
          clearTimeout(timer);
          rejectRun(error);
        },
      });
      this.deliver({ type: 'run', runId, ...spec }, (error) => {
        this.runs.get(runId)?.reject(error);
        this.runs.delete(runId);
      });
    });
    return { worker: this, runId, report };
  }

  /**
   * Ends the loaders of a `holdUntilFinished` run (now and any that start later), with success
   * or by throwing `LoaderFailure(failWith)`.
   */
  finishLoad(runId: number, failWith?: string): void {
    if (!this.gone && this.child.connected)
      this.child.send({ type: 'finish-load', runId, failWith });
  }

  /**
   * `LoadStatusService.isLoaded(userId)` in the worker: `loaded`, or the name of the error it threw.
   * Its store command is a plain PTTL, not a script.
   */
  isLoaded(userId: string): Promise<{ loaded?: boolean; errorName?: string }> {
    const requestId = this.nextRequestId++;
    return new Promise((resolveRequest, rejectRequest) => {
      this.requests.set(requestId, { resolve: resolveRequest, reject: rejectRequest });
      this.deliver({ type: 'is-loaded', requestId, userId }, (error) => {
        this.requests.delete(requestId);
        rejectRequest(error);
      });
    });
  }

  /**
   * Resolves once a flight of this worker found `userId`'s lock held and waits (earlier waits
   * count): from then on it is registered for notices and cannot miss what happens next.
   */
  waiting(userId: string, timeoutMs = 5_000): Promise<void> {
    return new Promise((resolveWait, rejectWait) => {
      const check = (): boolean => {
        if (!this.waitStarts.some((w) => w.userId === userId)) return false;
        this.waitListeners.delete(listener);
        clearTimeout(timer);
        resolveWait();
        return true;
      };
      const listener = (): void => void check();
      const timer = setTimeout(() => {
        this.waitListeners.delete(listener);
        rejectWait(new Error(`${this.name} did not wait on ${userId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waitListeners.add(listener);
      check();
    });
  }

  /** The callers of run `runId` that have ended so far, as the worker reported each. */
  callersOf(runId: number): CallerResult[] {
    return [...(this.streamed.get(runId) ?? [])];
  }

  /**
   * The worker's clock against this process's: over a few round trips, the one with the least
   * delay gives `offsetMs` (worker time minus ours) within ± half that delay.
   */
  async measureClock(samples = 7): Promise<{ offsetMs: number; uncertaintyMs: number }> {
    let best = { offsetMs: 0, uncertaintyMs: Infinity };
    for (let i = 0; i < samples; i++) {
      const requestId = this.nextRequestId++;
      const sent = now();
      const workerNow = await new Promise<number>((resolveClock, rejectClock) => {
        this.clockRequests.set(requestId, { resolve: resolveClock, reject: rejectClock });
        this.deliver({ type: 'clock', requestId }, (error) => {
          this.clockRequests.delete(requestId);
          rejectClock(error);
        });
      });
      const received = now();
      const uncertaintyMs = (received - sent) / 2;
      if (uncertaintyMs < best.uncertaintyMs)
        best = { offsetMs: workerNow - (sent + received) / 2, uncertaintyMs };
    }
    return best;
  }

  /**
   * Freezes the process (SIGSTOP) for `ms`, then lets it go on (SIGCONT): a stall as a long GC
   * pause or an overloaded host makes one. Resolves with when each signal was sent.
   */
  async stall(ms: number): Promise<{ stoppedAt: number; resumedAt: number }> {
    this.child.kill('SIGSTOP');
    const stoppedAt = now();
    await delay(ms);
    const resumedAt = now();
    this.child.kill('SIGCONT');
    return { stoppedAt, resumedAt };
  }

  /** Calls `listener` on every later loader event of this worker; returns an unsubscribe. */
  onLoaderEvent(listener: (event: LoaderEvent) => void): () => void {
    this.loaderListeners.add(listener);
    return () => this.loaderListeners.delete(listener);
  }

  /** Loader runs that started and have not ended (as far as the events tell). */
  runningLoads(): LoadRecord[] {
    const ended = new Set(
      this.loaderEvents.filter((e) => e.type === 'loader-end').map((e) => e.record.id),
    );
    return this.loaderEvents
      .filter((e) => e.type === 'loader-start' && !ended.has(e.record.id))
      .map((e) => e.record);
  }

  /**
   * Resolves with the first loader start in this worker matching `match` (earlier ones count);
   * rejects if none comes within `timeoutMs` or the worker exits.
   */
  loaderStarted(
    match: (record: LoadRecord) => boolean = () => true,
    timeoutMs = RUN_TIMEOUT_MS,
  ): Promise<LoadRecord> {
    return firstLoaderEvent([this], 'loader-start', match, timeoutMs);
  }

  /** Like {@link loaderStarted}, for a loader's end. */
  loaderEnded(
    match: (record: LoadRecord) => boolean = () => true,
    timeoutMs = RUN_TIMEOUT_MS,
  ): Promise<LoadRecord> {
    return firstLoaderEvent([this], 'loader-end', match, timeoutMs);
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

  /**
   * Kills the process (SIGKILL by default: a crash) and waits until it is gone. `killedAt` is set
   * right after the signal was sent.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<WorkerExit> {
    if (!this.gone) {
      this.child.kill(signal);
      if (signal === 'SIGKILL') this.killedAt ??= now();
    }
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
      case 'loader-end': {
        const event: LoaderEvent = { type: message.type, record: message.record };
        this.loaderEvents.push(event);
        for (const listener of [...this.loaderListeners]) listener(event);
        break;
      }
      case 'process-error': {
        const { type: _type, ...report } = message;
        this.processErrors.push(report);
        break;
      }
      case 'closing':
        this.closingAt = message.at;
        break;
      case 'wait-started':
        this.waitStarts.push({ userId: message.userId, at: message.at });
        for (const listener of [...this.waitListeners]) listener();
        break;
      case 'caller': {
        const list = this.streamed.get(message.runId) ?? [];
        list.push(message.caller);
        this.streamed.set(message.runId, list);
        break;
      }
      case 'clock-result': {
        const pending = this.clockRequests.get(message.requestId);
        this.clockRequests.delete(message.requestId);
        pending?.resolve(message.now);
        break;
      }
      case 'is-loaded-result': {
        const pending = this.requests.get(message.requestId);
        this.requests.delete(message.requestId);
        pending?.resolve({ loaded: message.loaded, errorName: message.errorName });
        break;
      }
      default:
        break;
    }
  }
}

/**
 * Resolves with the first `type` event matching `match` in any of `workers` (earlier events
 * count, earliest first); rejects after `timeoutMs`, or once every worker has exited.
 */
export function firstLoaderEvent(
  workers: LoadWorker[],
  type: LoaderEvent['type'],
  match: (record: LoadRecord) => boolean = () => true,
  timeoutMs = RUN_TIMEOUT_MS,
): Promise<LoadRecord> {
  const seen = workers
    .flatMap((w) => w.loaderEvents)
    .filter((e) => e.type === type && match(e.record))
    .sort((a, b) => a.record.start - b.record.start);
  if (seen.length > 0) return Promise.resolve(seen[0].record);
  return new Promise<LoadRecord>((resolveEvent, rejectEvent) => {
    const unsubscribe: (() => void)[] = [];
    let settled = false;
    const done = (): void => {
      settled = true;
      clearTimeout(timer);
      for (const u of unsubscribe) u();
    };
    const timer = setTimeout(() => {
      done();
      rejectEvent(
        new Error(
          `no matching ${type} in ${workers.map((w) => w.name).join(', ')} within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    for (const worker of workers) {
      unsubscribe.push(
        worker.onLoaderEvent((event) => {
          if (event.type !== type || !match(event.record)) return;
          done();
          resolveEvent(event.record);
        }),
      );
    }
    void Promise.all(workers.map((w) => w.exited)).then(() => {
      if (settled) return;
      done();
      rejectEvent(new Error(`every worker exited before a matching ${type}`));
    });
  });
}

/** The workers of one test. Use `workerPool()` (./harness.ts) in Jest to clean up after each test. */
export class WorkerPool {
  private readonly workers = new Set<LoadWorker>();
  /** Every worker this pool ever started, including those that exited. */
  private readonly everyWorker: LoadWorker[] = [];

  /** Starts `count` workers and resolves once every one is ready (the barrier before a stampede). */
  async start(count: number, options: StartOptions): Promise<LoadWorker[]> {
    const started: LoadWorker[] = [];
    for (let i = 0; i < count; i++) {
      const name = `${options.namePrefix ?? 'w'}${this.everyWorker.length}`;
      const connectionName = `${options.keyPrefix}:${name}`;
      const config: WorkerConfig = {
        name,
        redisUrl: options.redisUrl ?? redisUrl(),
        client: options.client ?? 'ioredis-url',
        topologyNodes: options.topologyNodes,
        counterRedisUrl: options.counterRedisUrl,
        keyPrefix: options.keyPrefix,
        options: options.options ?? {},
        connectionName,
        runLogFile: options.runLogDir ? join(options.runLogDir, `${name}.jsonl`) : undefined,
      };
      const child = fork(WORKER_SCRIPT, [], {
        cwd: ROOT,
        execArgv: ['-r', '@swc-node/register'],
        env: { ...process.env, LOAD_WORKER_CONFIG: JSON.stringify(config) },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        serialization: 'advanced',
      });
      if (child.pid !== undefined) setPriority(child.pid, WORKER_NICENESS);
      const worker = new LoadWorker(name, connectionName, child);
      this.workers.add(worker);
      this.everyWorker.push(worker);
      started.push(worker);
    }
    await Promise.all(started.map((w) => w.ready));
    return started;
  }

  /**
   * Sends the same run to every worker with one start time a little ahead, so all of them fire
   * their calls at the same moment; resolves with every report.
   */
  runTogether(workers: LoadWorker[], spec: RunSpec, timeoutMs?: number): Promise<RunReport[]> {
    return Promise.all(this.startTogether(workers, spec, timeoutMs).map((r) => r.report));
  }

  /** Like {@link runTogether}, but gives each worker's run (for `finishLoad`). */
  startTogether(workers: LoadWorker[], spec: RunSpec, timeoutMs?: number): StartedRun[] {
    const startAt = now() + BARRIER_LEAD_MS;
    return workers.map((w) => w.startRun({ ...spec, startAt }, timeoutMs));
  }

  /** Unhandled rejections / uncaught exceptions reported by any worker of this pool, ever. */
  processErrors(): ProcessErrorReport[] {
    return this.everyWorker.flatMap((w) => w.processErrors);
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

  /** Forgets every worker (after `closeAll`), so a reused pool reports only its new workers. */
  reset(): void {
    this.workers.clear();
    this.everyWorker.length = 0;
  }
}

/**
 * Barrier: resolves once a flight in each of `workers` found `userId`'s lock held and waits on
 * it, as the workers report it (`wait-started`): each is then registered for notices and has
 * marked the user as waited on, so it cannot miss what happens next.
 */
export function waitingSeen(
  workers: LoadWorker[],
  userId: string,
  timeoutMs = 5_000,
): Promise<void> {
  return Promise.all(workers.map((w) => w.waiting(userId, timeoutMs))).then(() => undefined);
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
  redis: Pick<Redis, 'hgetall'>,
  keyPrefix: string,
): Promise<Record<string, number>> {
  const raw = await redis.hgetall(loaderRunsKey(keyPrefix));
  return Object.fromEntries(Object.entries(raw).map(([user, n]) => [user, Number(n)]));
}

export { userKey } from '../support/env';

/**
 * Every loader run the workers wrote to their run logs in `dir` (see `StartOptions.runLogDir`),
 * with `end`, `ok`, `abortedAt` and `abortReason` filled in where the log has them. A run whose
 * worker was SIGKILLed has no `end`.
 */
export function readRunLogs(dir: string): LoadRecord[] {
  return readWorkerLogs(dir).runs;
}

/** The run logs of a directory: every loader run, and what each worker's store said of Redis. */
export function readWorkerLogs(dir: string): {
  runs: LoadRecord[];
  storeEvents: StoreEventRecord[];
} {
  const runs = new Map<string, LoadRecord>();
  const storeEvents: StoreEventRecord[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
    const text = readFileSync(join(dir, file), 'utf8');
    const lines = text.split('\n');
    for (const [index, line] of lines.entries()) {
      if (!line.trim()) continue;
      let entry: RunLogEntry;
      try {
        entry = JSON.parse(line) as RunLogEntry;
      } catch {
        // Only the last line of a file may be cut short (by a SIGKILL mid-write); anything else
        // is a broken log, and a checker that skipped it would judge a history it never saw.
        if (index === lines.length - 1) continue;
        throw new Error(`run log ${file} line ${index + 1} is not JSON: ${line.slice(0, 200)}`);
      }
      if (entry.event === 'start') {
        runs.set(entry.record.id, { ...entry.record });
        continue;
      }
      if (entry.event === 'store') {
        const { event: _, ...record } = entry;
        storeEvents.push(record);
        continue;
      }
      const run = runs.get(entry.id);
      if (!run)
        throw new Error(`run log ${file} line ${index + 1} names an unknown run ${entry.id}`);
      switch (entry.event) {
        case 'extend':
          run.leaseEndsAt = entry.leaseEndsAt;
          break;
        case 'abort':
          run.abortedAt = entry.at;
          run.abortReason = entry.reason;
          break;
        case 'end':
          run.end = entry.at;
          run.ok = entry.ok;
          break;
        case 'commit':
          run.committed = true;
          run.committedAt = entry.at;
          break;
        case 'lease-lost':
          run.leaseLostAt = entry.at;
          break;
      }
    }
  }
  return { runs: [...runs.values()], storeEvents: storeEvents.sort((a, b) => a.at - b.at) };
}
