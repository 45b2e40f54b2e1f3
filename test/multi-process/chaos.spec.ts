/**
 * Chaos: 4 worker processes × 20 users, random SIGKILLs of workers (each respawned) and random
 * Redis kills and restarts, onStoreError 'fail-closed' (see chaos.ts for why). Every loader run is
 * logged; the checker (chaos-checker.ts) asserts that no two runs of a user overlapped while both
 * held a valid lease, that fencing tokens increase in run order, that every caller ended with a
 * value or a typed error within its budget, and that every user ended loaded after a final round.
 *
 * Faults last LOAD_STATUS_CHAOS_MS (default 25 s, so the test stays under 60 s in CI); set it
 * higher for a longer run, and LOAD_STATUS_CHAOS_SEED to replay a schedule.
 */
import { RedisServer } from '../support/redis-server';
import { runChaos } from './chaos';
import { workerPool } from './harness';

const CHAOS_MS = Number(process.env.LOAD_STATUS_CHAOS_MS ?? 25_000);
const SEED =
  process.env.LOAD_STATUS_CHAOS_SEED === undefined
    ? undefined
    : Number(process.env.LOAD_STATUS_CHAOS_SEED);

describe('chaos: worker crashes and Redis restarts', () => {
  const pool = workerPool();
  let server: RedisServer;

  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(() => server.stop());

  it(
    'never lets two runs of a user overlap under a valid lease, keeps fencing tokens increasing, ends every caller in budget, and ends with every user loaded',
    async () => {
      const result = await runChaos({ pool, server, durationMs: CHAOS_MS, seed: SEED });
      console.log(result.summary);

      expect([...result.violations, ...result.verdict.violations]).toEqual([]);
      // The run really exercised what it is about (loose floors: a busy machine respawns slowly).
      expect(result.stats.kills).toBeGreaterThanOrEqual(Math.floor(CHAOS_MS / 10_000));
      expect(result.stats.killsMidLoad).toBeGreaterThan(0);
      expect(result.stats.redisRestarts).toBeGreaterThanOrEqual(Math.floor(CHAOS_MS / 15_000));
      expect(result.stats.loaderRuns).toBeGreaterThan(50);
    },
    CHAOS_MS + 60_000,
  );
});
