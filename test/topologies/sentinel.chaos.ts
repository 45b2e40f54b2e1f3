/**
 * The shortened chaos run on a Sentinel group (1 master, 2 replicas, 3 sentinels): worker kills,
 * stalls and master failovers with `waitForReplicas: { replicas: 1 }`, judged by the chaos
 * checker. CI runs it after `npm test` (`npm run test:chaos`, with the Cluster one), which it
 * would push past its ten-minute budget; it has its own group, so the failovers of
 * `sentinel.spec.ts` and its own never meet.
 */
import { workerPool } from '../multi-process/harness';
import { RedisSentinelTopology } from '../support/redis-topologies';
import { expectChaosPropertiesHold, sentinelTopology, TOPOLOGY_CHAOS_MS } from './scenarios';

describe('chaos on a Sentinel group (1 master, 2 replicas, 3 sentinels)', () => {
  const pool = workerPool();
  let group: RedisSentinelTopology;
  beforeAll(async () => {
    group = await RedisSentinelTopology.start();
  }, 60_000);
  afterAll(() => group?.stop());

  it(
    'keeps every chaos property through worker kills, stalls and master failovers (waitForReplicas 1)',
    () => expectChaosPropertiesHold(pool, sentinelTopology(group, 'ioredis-sentinel-options')),
    TOPOLOGY_CHAOS_MS + 150_000,
  );
});
