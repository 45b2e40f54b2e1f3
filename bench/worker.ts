/**
 * A bench worker: one process of a simulated cluster. Forked by bench/pool.ts with
 * `execArgv: ['-r', '@swc-node/register']` and an IPC channel; its config comes as JSON in
 * BENCH_WORKER. It sets up the strategies it was given, warms each one up (JIT, Lua script cache),
 * reports `ready`, and then on every `run` fires `callersPerUser` calls per user, all in one tick
 * at `startAt` (a barrier shared by every worker), and reports each call and every loader run.
 * With `steady` in its config it also sets up part 7's variants, and on every `steady` command
 * starts one call every `everyMs` by a timer for `durationMs` (see {@link SteadyCommand}).
 * It exits when told to close or when the parent goes away.
 */
import { setMaxListeners } from 'node:events';
import { Redis } from 'ioredis';
import { now, sleep, until } from './clock';
import {
  STEADY_VARIANTS,
  type CallRecord,
  type ParentMessage,
  type RunCommand,
  type SteadyCall,
  type SteadyCommand,
  type SteadyVariant,
  type StrategyId,
  type WorkerConfig,
  type WorkerMessage,
} from './protocol';
import { createSteadyStrategy, createStrategy, type Strategy } from './strategies';

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

/** A loader of `command.loadMs`, telling the parent when it starts and ends (and whether it failed). */
async function timedLoad(
  command: { runId: number; loadMs: number },
  userId: string,
): Promise<void> {
  send({ type: 'loader-start', runId: command.runId, worker: name, userId, at: now() });
  let ok = false;
  try {
    await sleep(command.loadMs);
    ok = true;
  } finally {
    send({ type: 'loader-end', runId: command.runId, worker: name, userId, at: now(), ok });
  }
}

const strategies = new Map<StrategyId, Strategy>();
const steadyStrategies = new Map<SteadyVariant, Strategy>();
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
    await timedLoad(command, userId);
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

/**
 * One call of a steady run: its latency and the strategy's answer. `ran()` tells whether the
 * call's loader ran; a refresh-ahead's loader starts after its caller was answered, so steady()
 * reads it only once every call has settled and every load has ended.
 */
async function steadyCall(
  strategy: Strategy,
  userId: string,
  at: number,
  load: () => Promise<void>,
  signal: AbortSignal,
): Promise<{ call: SteadyCall; ran: () => boolean }> {
  let loaderRan = false;
  const ran = (): boolean => loaderRan;
  const loader = (): Promise<void> => {
    loaderRan = true;
    return load();
  };
  const t0 = performance.now();
  try {
    const outcome = await strategy.ensureLoaded(userId, loader, signal);
    return { call: { at, latencyMs: performance.now() - t0, outcome, background: false }, ran };
  } catch (error) {
    const latencyMs = performance.now() - t0;
    const e = error instanceof Error ? error : new Error(String(error));
    const kind = e.name === 'Error' && e.constructor.name !== 'Error' ? e.constructor.name : e.name;
    const message = `${kind}: ${e.message}`;
    return { call: { at, latencyMs, outcome: 'error', background: false, error: message }, ran };
  }
}

async function steady(command: SteadyCommand): Promise<void> {
  const strategy = steadyStrategies.get(command.variant);
  if (!strategy) throw new Error(`worker ${name} has no steady variant ${command.variant}`);
  const controller = new AbortController();
  const { signal } = controller;
  setMaxListeners(0, signal);
  runs.set(command.runId, controller);
  let loaderRuns = 0;
  const loading = new Set<Promise<void>>();
  const loadFor = (userId: string) => (): Promise<void> => {
    loaderRuns++;
    const load = timedLoad(command, userId);
    loading.add(load);
    void load.finally(() => loading.delete(load));
    return load;
  };
  /** Every call settled, then every load (a refresh-ahead's too) ended. */
  const settle = async (
    pending: Promise<{ call: SteadyCall; ran: () => boolean }>[],
  ): Promise<SteadyCall[]> => {
    const out = await Promise.all(pending);
    // A background refresh starts its loader a round trip after its caller was answered.
    await sleep(20);
    while (loading.size > 0) await Promise.allSettled([...loading]);
    for (const { call, ran } of out) call.background = ran() && call.outcome === 'already-loaded';
    return out.map((x) => x.call);
  };

  const primeCalls: SteadyCall[] = [];
  if (command.prime) {
    for (const userId of command.userIds)
      primeCalls.push(
        ...(await settle([steadyCall(strategy, userId, 0, loadFor(userId), signal)])),
      );
  }
  const primeLoaderRuns = loaderRuns;
  loaderRuns = 0;

  const calls: Promise<{ call: SteadyCall; ran: () => boolean }>[] = [];
  const timerLateMs: number[] = [];
  let skipped = 0;
  let firstAt = Number.NaN;
  let lastAt = Number.NaN;
  if (command.durationMs > 0) {
    const end = command.startAt + command.durationMs;
    let next = command.startAt + command.phaseMs;
    for (let i = 0; next < end && !signal.aborted; i++) {
      await until(next);
      const t = now();
      timerLateMs.push(t - next);
      if (Number.isNaN(firstAt)) firstAt = t;
      lastAt = t;
      const userId = command.userIds[i % command.userIds.length];
      calls.push(steadyCall(strategy, userId, t - command.startAt, loadFor(userId), signal));
      next += command.everyMs;
      // Fallen more than an interval behind (a stalled event loop): resume the pace from now
      // rather than fire the missed calls in a burst.
      if (next < t) {
        const missed = Math.ceil((t - next) / command.everyMs);
        skipped += missed;
        next += missed * command.everyMs;
      }
    }
  }
  const settled = await settle(calls);
  runs.delete(command.runId);
  send({
    type: 'steady-result',
    runId: command.runId,
    worker: name,
    primeCalls,
    primeLoaderRuns,
    calls: settled,
    loaderRuns,
    firstAt,
    lastAt,
    timerLateMs,
    skipped,
    cancelled: signal.aborted,
  });
}

let closing: Promise<void> | undefined;
function close(): Promise<void> {
  closing ??= (async () => {
    for (const controller of runs.values()) controller.abort(new Error('worker closing'));
    await Promise.allSettled(
      [...strategies.values(), ...steadyStrategies.values()].map((s) => s.close()),
    );
    send({ type: 'closed', name });
    if (process.connected) process.disconnect();
    // Borrowed timers of third-party libraries (redlock retries) must not keep us alive.
    setTimeout(() => process.exit(0), 2_000).unref();
  })();
  return closing;
}

/** Warm-up: JIT, connections and the Lua script cache, so no trial pays for a NOSCRIPT retry. */
async function warmUp(strategy: Strategy): Promise<void> {
  const controller = new AbortController();
  for (let i = 0; i < 3; i++) {
    const user = `warmup:${name}:${process.pid}:${i}`;
    await strategy.ensureLoaded(user, () => sleep(1), controller.signal);
    await strategy.ensureLoaded(user, () => sleep(1), controller.signal);
    await strategy.lockCycle(`${user}:lock`);
  }
  await strategy.warmup?.();
}

async function main(): Promise<void> {
  for (const id of config!.strategies) {
    const strategy = await createStrategy(id, config!.redisUrl);
    strategies.set(id, strategy);
    await warmUp(strategy);
  }
  if (config!.steady)
    for (const variant of STEADY_VARIANTS) {
      const strategy = await createSteadyStrategy(variant, config!.redisUrl, config!.steady);
      steadyStrategies.set(variant, strategy);
      await warmUp(strategy);
    }
  const fatal = (error: unknown): void =>
    send({
      type: 'fatal',
      name,
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'run') {
      run(message).catch(fatal);
    } else if (message.type === 'steady') {
      steady(message).catch(fatal);
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
