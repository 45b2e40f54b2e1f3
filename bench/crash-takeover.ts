/**
 * Takeover time after a holder crash, with default options, over repeated runs of the scenario of
 * test/multi-process/holder-crash-takeover.spec.ts: 4 worker processes × 50 callers stampede one
 * cold user (300 ms loader), and the lock winner is SIGKILLed 100 ms into its load.
 *
 *   node -r @swc-node/register bench/crash-takeover.ts [runs = 12]
 *
 * Starts its own redis-server (needs the binary on PATH) and fresh workers for every run. Prints,
 * per run and as p50 / max: kill → the new loader's start (takeover), kill → load completed, how
 * far past the dead holder's lease the takeover came, and caller errors.
 */
import { Redis } from 'ioredis';
import { crashHolderMidLoad } from '../test/multi-process/crash-scenario';
import { failures, loaderRunsInRedis, WorkerPool } from '../test/multi-process/cluster';
import { uniquePrefix } from '../test/support/env';
import { RedisServer } from '../test/support/redis-server';

const RUNS = Number(process.argv[2] ?? 12);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const ms = (v: number): string => `${Math.round(v)} ms`;

async function main(): Promise<void> {
  const server = await RedisServer.start();
  const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  const pool = new WorkerPool();
  const takeovers: number[] = [];
  const completions: number[] = [];
  const overshoots: number[] = [];
  let callers = 0;
  let errors = 0;
  const problems: string[] = [];
  try {
    console.log(
      `crash-takeover: ${RUNS} runs, 4 processes × 50 callers, 300 ms loader, SIGKILL 100 ms into the load, default options`,
    );
    for (let i = 1; i <= RUNS; i++) {
      const keyPrefix = uniquePrefix('bench-crash');
      const user = 'holder-dies';
      const workers = await pool.start(4, { keyPrefix, redisUrl: server.url });
      const r = await crashHolderMidLoad({ pool, workers, redis, keyPrefix, user });
      const exits = await pool.closeAll();
      const unclean = exits.filter((e) => e.closeRequested && !e.clean);
      const processErrors = pool.processErrors();
      pool.reset();

      const failed = failures(r.callers);
      callers += r.callers.length;
      errors += failed.length;
      const runsInRedis = (await loaderRunsInRedis(redis, keyPrefix))[user];
      if (r.loads.length !== 1 || !r.takeover?.ok)
        problems.push(`run ${i}: ${r.loads.length} loads after the kill`);
      if (runsInRedis !== 2)
        problems.push(`run ${i}: ${runsInRedis} loader runs counted in Redis (expected 2)`);
      if (unclean.length > 0)
        problems.push(`run ${i}: ${unclean.length} workers did not exit cleanly`);
      if (processErrors.length > 0)
        problems.push(`run ${i}: ${processErrors.length} unhandled errors in workers`);
      problems.push(...failed.slice(0, 3).map((f) => `run ${i}: ${f}`));
      if (r.takeoverMs === undefined || r.completedMs === undefined) continue;

      const overshoot = r.takeover!.start - (r.leaseReadAt + r.leaseLeftMs);
      takeovers.push(r.takeoverMs);
      completions.push(r.completedMs);
      overshoots.push(overshoot);
      console.log(
        `run ${String(i).padStart(2)}: lease left ${ms(r.leaseLeftMs)}, takeover ${ms(r.takeoverMs)}, ` +
          `completed ${ms(r.completedMs)} after the kill; takeover ${ms(overshoot)} after the lease ran out; ` +
          `${r.callers.length} callers, ${failed.length} errors`,
      );
    }
    console.log('');
    console.log(
      `kill → new loader start (takeover): p50 ${ms(percentile(takeovers, 50))}, max ${ms(Math.max(...takeovers))}`,
    );
    console.log(
      `kill → load completed:             p50 ${ms(percentile(completions, 50))}, max ${ms(Math.max(...completions))}`,
    );
    console.log(
      `lease end → takeover:              p50 ${ms(percentile(overshoots, 50))}, max ${ms(Math.max(...overshoots))}`,
    );
    console.log(
      `callers: ${callers} surviving, ${errors} errors; runs: ${takeovers.length}/${RUNS}`,
    );
    if (problems.length > 0) {
      console.log(`PROBLEMS:\n${problems.join('\n')}`);
      process.exitCode = 1;
    }
  } finally {
    await pool.closeAll();
    await redis.quit();
    await server.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
