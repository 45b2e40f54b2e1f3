/**
 * Chaos: 4 worker processes × 20 users under planned faults — worker SIGKILLs mid-load (each
 * respawned), Redis kills and restarts, and stalled holders (SIGSTOP past the lease while another
 * worker takes over) — with onStoreError 'fail-closed' (see chaos.ts). The checker
 * (chaos-checker.ts) judges the whole history from facts recorded at the source: exclusion
 * within one incarnation of the lock state, incarnations that change only across a state loss,
 * bounded overlap across one, fencing tokens that increase, no lost load, one load per TTL,
 * every caller accounted for, and errors only where a fault explains them.
 *
 * Faults last LOAD_STATUS_CHAOS_MS (default 25 s, so the test stays under a minute in CI); the
 * number of each fault grows with it but never falls below MIN_FAULTS. LOAD_STATUS_CHAOS_SEED
 * replays a schedule.
 */
import { RedisServer } from '../support/redis-server';
import { MIN_FAULTS, plannedFaults, runChaos, standaloneTarget } from './chaos';
import { workerPool } from './harness';

const CHAOS_MS = Number(process.env.LOAD_STATUS_CHAOS_MS ?? 25_000);
const SEED =
  process.env.LOAD_STATUS_CHAOS_SEED === undefined
    ? undefined
    : Number(process.env.LOAD_STATUS_CHAOS_SEED);

describe('chaos: worker crashes, stalls and Redis restarts', () => {
  const pool = workerPool();
  let server: RedisServer;

  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(() => server.stop());

  it('plans at least the minimum of every fault for any run length', () => {
    for (const ms of [1, 5_000, 25_000, 120_000]) {
      const planned = plannedFaults(ms);
      expect(planned.kill).toBeGreaterThanOrEqual(MIN_FAULTS.kills);
      expect(planned.redis).toBeGreaterThanOrEqual(MIN_FAULTS.redisRestarts);
      expect(planned.stall).toBeGreaterThanOrEqual(MIN_FAULTS.stalls);
    }
  });

  it(
    'keeps every property of the checker through every planned fault',
    async () => {
      const result = await runChaos({
        pool,
        target: standaloneTarget(server),
        durationMs: CHAOS_MS,
        seed: SEED,
      });
      console.log(result.summary);

      expect([...result.violations, ...result.verdict.violations]).toEqual([]);
      // The run really did what it is about: every planned fault, and what each must cause.
      const planned = plannedFaults(CHAOS_MS);
      expect(result.stats.kills).toBe(planned.kill);
      expect(result.stats.killsMidLoad).toBe(planned.kill);
      expect(result.stats.redisRestarts).toBe(planned.redis);
      expect(result.stats.stalls).toBe(planned.stall);
      expect(result.stats.stallsTied).toBe(planned.stall);
      expect(result.verdict.callers.hung).toBe(0);
      expect(result.stats.loaderRuns).toBeGreaterThan(50);
    },
    CHAOS_MS + 90_000,
  );
});
