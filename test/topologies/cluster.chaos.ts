/**
 * The shortened chaos run on a Redis Cluster (3 masters + 3 replicas): worker kills, stalls and
 * master failovers with `waitForReplicas: { replicas: 1 }`, judged by the chaos checker.
 *
 * Not in `npm test` (run it with `npm run test:chaos:cluster`): it found two real bugs (a WAIT
 * answered by the new master, a grant used after its lease), both fixed, and one "lost load"
 * violation (a caller told `loaded-elsewhere` 9 ms into a wait with no backing load in the run
 * logs) seen once in four runs and not yet explained. It returns to `npm test` when that is.
 */
import { workerPool } from '../multi-process/harness';
import { RedisClusterTopology } from '../support/redis-topologies';
import { clusterTopology, expectChaosPropertiesHold, TOPOLOGY_CHAOS_MS } from './scenarios';

describe('chaos on a Redis Cluster (3 masters + 3 replicas)', () => {
  const pool = workerPool();
  let cluster: RedisClusterTopology;
  beforeAll(async () => {
    cluster = await RedisClusterTopology.start();
  }, 60_000);
  afterAll(() => cluster?.stop());

  it(
    'keeps every chaos property through worker kills, stalls and master failovers (waitForReplicas 1)',
    () => expectChaosPropertiesHold(pool, clusterTopology(cluster, 'ioredis-cluster')),
    TOPOLOGY_CHAOS_MS + 150_000,
  );
});
