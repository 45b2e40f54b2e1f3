/**
 * A bench worker: one process of a simulated cluster. Forked by bench/pool.ts with
 * `execArgv: ['-r', '@swc-node/register']` and an IPC channel; its config comes as JSON in
 * BENCH_WORKER. It sets up the strategies it was given, warms each one up (JIT, Lua script cache),
 * reports `ready`, and then on every `run` fires `callersPerUser` calls per user, all in one tick
 * at `startAt` (a barrier shared by every worker), and reports each call and every loader run.
 * It exits when told to close or when the parent goes away.
 */
import { setMaxListeners } from 'node:events';
import { Redis } from 'ioredis';
import { now, sleep, until } from './clock';
import type {
  CallRecord,
  ParentMessage,
  RunCommand,
  StrategyId,
  WorkerConfig,
  WorkerMessage,
} from './protocol';
import { createStrategy, type Strategy } from './strategies';

const config = JSON.parse(process.env.BENCH_WORKER ?? 'null') as WorkerConfig | null;
if (!config || typeof process.send !== 'function') {
  console.error('bench worker: start me with child_process.fork() and BENCH_WORKER');
  process.exit(2);
}
const { name } = config;

// Count every command this process's ioredis clients send (the library's own connections
// included: they come from the same ioredis module). Redis's INFO commandstats also counts the
// commands that Lua scripts run; this counter is the client-side number of round trips.
let commandsSent = 0;
type SendCommand = (this: Redis, ...args: unknown[]) => unknown;
const proto = Redis.prototype as unknown as { sendCommand: SendCommand };
const originalSendCommand = proto.sendCommand;
proto.sendCommand = function (this: Redis, ...args: unknown[]): unknown {
  commandsSent++;
  return originalSendCommand.apply(this, args);
};

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

const strategies = new Map<StrategyId, Strategy>();
const runs = new Map<number, AbortController>();

async function call(
  strategy: Strategy,
  command: RunCommand,
  userId: string,
  signal: AbortSignal,
  loaderRan: () => void,
): Promise<CallRecord> {
  let ran = false;
  const loader = async (): Promise<void> => {
    ran = true;
    loaderRan();
    send({ type: 'loader-start', runId: command.runId, worker: name, userId, at: now() });
    let ok = false;
    try {
      await sleep(command.loadMs);
      ok = true;
    } finally {
      send({ type: 'loader-end', runId: command.runId, worker: name, userId, at: now(), ok });
    }
  };
  try {
    const result = await strategy.ensureLoaded(userId, loader, signal);
    return { userId, outcome: ran ? 'ran-loader' : result, end: now() };
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    // The class name: some libraries' errors keep name "Error" (redis-semaphore's TimeoutError).
    const kind = e.name === 'Error' && e.constructor.name !== 'Error' ? e.constructor.name : e.name;
    return { userId, outcome: 'error', end: now(), error: `${kind}: ${e.message}` };
  }
}

async function run(command: RunCommand): Promise<void> {
  const strategy = strategies.get(command.strategy);
  if (!strategy) throw new Error(`worker ${name} has no strategy ${command.strategy}`);
  const controller = new AbortController();
  setMaxListeners(0, controller.signal); // every caller of the run listens to it
  runs.set(command.runId, controller);
  let loaderRuns = 0;
  await until(command.startAt);
  const firedAt = now();
  const sentBefore = commandsSent;
  const calls: Promise<CallRecord>[] = [];
  // Every call of the run starts in the same tick: a real stampede inside this process too.
  for (const userId of command.userIds)
    for (let i = 0; i < command.callersPerUser; i++)
      calls.push(call(strategy, command, userId, controller.signal, () => loaderRuns++));
  const callers = await Promise.all(calls);
  runs.delete(command.runId);
  send({
    type: 'result',
    runId: command.runId,
    worker: name,
    callers,
    loaderRuns,
    commandsSent: commandsSent - sentBefore,
    cancelled: controller.signal.aborted,
    firedAt,
  });
}

let closing: Promise<void> | undefined;
function close(): Promise<void> {
  closing ??= (async () => {
    for (const controller of runs.values()) controller.abort(new Error('worker closing'));
    await Promise.allSettled([...strategies.values()].map((s) => s.close()));
    send({ type: 'closed', name });
    if (process.connected) process.disconnect();
    // Borrowed timers of third-party libraries (redlock retries) must not keep us alive.
    setTimeout(() => process.exit(0), 2_000).unref();
  })();
  return closing;
}

async function main(): Promise<void> {
  for (const id of config!.strategies) {
    const strategy = await createStrategy(id, config!.redisUrl);
    strategies.set(id, strategy);
    // Warm-up: JIT, connections and the Lua script cache, so no trial pays for a NOSCRIPT retry.
    const controller = new AbortController();
    for (let i = 0; i < 3; i++) {
      const user = `warmup:${name}:${process.pid}:${i}`;
      await strategy.ensureLoaded(user, () => sleep(1), controller.signal);
      await strategy.ensureLoaded(user, () => sleep(1), controller.signal);
      await strategy.lockCycle(`${user}:lock`);
    }
    await strategy.warmup?.();
  }
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'run') {
      run(message).catch((error: unknown) =>
        send({
          type: 'fatal',
          name,
          message: error instanceof Error ? (error.stack ?? error.message) : String(error),
        }),
      );
    } else if (message.type === 'cancel') {
      runs.get(message.runId)?.abort(new Error('cancelled by the bench'));
    } else if (message.type === 'close') {
      void close();
    }
  });
  process.on('disconnect', () => void close());
  if (!process.connected) return void close();
  send({ type: 'ready', name, pid: process.pid });
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  send({ type: 'fatal', name, message });
  console.error(`bench worker ${name}: ${message}`);
  process.exit(1);
});
