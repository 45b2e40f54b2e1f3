/**
 * The shortened chaos run on a Redis Cluster (3 masters + 3 replicas): worker kills, stalls and
 * master failovers with `waitForReplicas: { replicas: 1 }`, judged by the chaos checker.
 *
 * Not in CI (run it with `npm run test:chaos:cluster`). It found four real bugs, all fixed: a WAIT
 * answered by the new master, a grant used after its lease, a waiter that trusted a 'loaded'
 * notice delivered late, and a stale holder's late finish that cut a newer flag's TTL short. One
 * violation is open (once in three runs): after a failover ioredis `Cluster` resends a finish
 * the module had already retried and answered, so the flag's TTL starts later than the caller
 * was told, and a caller is answered `already-loaded` past that TTL. It returns to CI when the
 * TTL is anchored to the first finish.
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
