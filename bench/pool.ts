/**
 * Parent side of the bench workers: fork, wait for `ready`, send runs with a barrier start,
 * collect results and loader events, SIGKILL on demand, and always reap every child.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type {
  LoaderEvent,
  ParentMessage,
  RunCommand,
  RunResult,
  SteadyCommand,
  SteadyReport,
  SteadySetup,
  StrategyId,
  WorkerConfig,
  WorkerMessage,
} from './protocol';

const READY_TIMEOUT_MS = 60_000;
const CLOSE_TIMEOUT_MS = 5_000;

let runIds = 1;

/** A run id unique within this bench run. */
export function newRunId(): number {
  return runIds++;
}

export class BenchWorker {
  private readonly pending = new Map<
    number,
    { resolve: (r: RunResult | SteadyReport) => void; reject: (e: Error) => void }
  >();
  private readonly loaderListeners = new Set<(event: LoaderEvent) => void>();
  private exited = false;
  readonly exit: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.exit = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exited = true;
        const error = new Error(`worker ${name} exited (code ${code}, signal ${signal})`);
        for (const p of this.pending.values()) p.reject(error);
        this.pending.clear();
        resolve();
      }),
    );
    child.on('message', (message: WorkerMessage) => this.onMessage(message));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Sends a run; resolves with the worker's report once every call of the run settled. */
  run(spec: Omit<RunCommand, 'type' | 'runId'>, runId = newRunId()): Promise<RunResult> {
    return this.request<RunResult>(runId, { type: 'run', runId, ...spec });
  }

  /**
   * Sends a steady run (part 7; the worker needs `steady` in its config); resolves once its
   * traffic ended, every call settled and every load ended.
   */
  steady(spec: Omit<SteadyCommand, 'type' | 'runId'>, runId = newRunId()): Promise<SteadyReport> {
    return this.request<SteadyReport>(runId, { type: 'steady', runId, ...spec });
  }

  private request<T extends RunResult | SteadyReport>(
    runId: number,
    message: ParentMessage,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.exited) return reject(new Error(`worker ${this.name} is gone`));
      this.pending.set(runId, { resolve: (r) => resolve(r as T), reject });
      this.send(message);
    });
  }

  cancel(runId: number): void {
    this.send({ type: 'cancel', runId });
  }

  onLoader(listener: (event: LoaderEvent) => void): () => void {
    this.loaderListeners.add(listener);
    return () => this.loaderListeners.delete(listener);
  }

  send(message: ParentMessage): void {
    if (!this.exited && this.child.connected) this.child.send(message);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.child.kill(signal);
  }

  /** Asks the worker to close; SIGKILLs it if it has not exited after a grace period. */
  async close(): Promise<void> {
    if (this.exited) return;
    this.send({ type: 'close' });
    const timer = setTimeout(() => this.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
    await this.exit;
    clearTimeout(timer);
  }

  private onMessage(message: WorkerMessage): void {
    if (message.type === 'result' || message.type === 'steady-result') {
      const p = this.pending.get(message.runId);
      this.pending.delete(message.runId);
      p?.resolve(message);
    } else if (message.type === 'loader-start' || message.type === 'loader-end') {
      for (const listener of this.loaderListeners) listener(message);
    } else if (message.type === 'fatal') {
      console.error(`bench worker ${message.name} failed: ${message.message}`);
    }
  }
}

/** Every worker this run forked, so the parent can reap them whatever happens. */
export class WorkerPool {
  private readonly all = new Set<BenchWorker>();

  constructor(private readonly redisUrl: string) {}

  /** @param steady also set up part 7's variants with these settings */
  async spawn(name: string, strategies: StrategyId[], steady?: SteadySetup): Promise<BenchWorker> {
    const config: WorkerConfig = { name, redisUrl: this.redisUrl, strategies, steady };
    const child = fork(join(__dirname, 'worker.ts'), [], {
      execArgv: ['-r', '@swc-node/register'],
      env: { ...process.env, BENCH_WORKER: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const worker = new BenchWorker(name, child);
    this.all.add(worker);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.kill();
        reject(new Error(`worker ${name} not ready within ${READY_TIMEOUT_MS} ms`));
      }, READY_TIMEOUT_MS);
      const onMessage = (message: WorkerMessage): void => {
        if (message.type === 'ready') done();
        else if (message.type === 'fatal') done(new Error(`worker ${name}: ${message.message}`));
      };
      const onExit = (code: number | null): void =>
        done(new Error(`worker ${name} exited with ${code} before it was ready`));
      const done = (error?: Error): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (error) reject(error);
        else resolve();
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
    return worker;
  }

  /** Spawns several workers, at most `parallel` booting at once (boots are CPU-bound). */
  async spawnMany(
    names: string[],
    strategies: StrategyId[],
    parallel = 2,
    steady?: SteadySetup,
  ): Promise<BenchWorker[]> {
    const out: BenchWorker[] = new Array<BenchWorker>(names.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(parallel, names.length) }, async () => {
        while (next < names.length) {
          const i = next++;
          out[i] = await this.spawn(names[i], strategies, steady);
        }
      }),
    );
    return out;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.all].map((w) => w.close()));
  }

  /** Last resort (signal handlers, crashes): SIGKILL every child still alive, synchronously. */
  killAll(): void {
    for (const w of this.all) w.kill('SIGKILL');
  }
}
