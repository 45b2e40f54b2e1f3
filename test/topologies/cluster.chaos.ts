/**
 * The shortened chaos run on a Redis Cluster (3 masters + 3 replicas): worker kills, stalls and
 * master failovers with `waitForReplicas: { replicas: 1 }`, judged by the chaos checker.
 *
 * CI runs it after `npm test` (`npm run test:chaos`, with the Sentinel one), which it would push
 * past its ten-minute budget. It found four real bugs, all fixed: a WAIT answered by the new
 * master, a grant used after its lease, a waiter that trusted a 'loaded' notice delivered late,
 * and a stale holder's late finish (or one ioredis resent after a failover) that cut a newer
 * flag's TTL short.
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
