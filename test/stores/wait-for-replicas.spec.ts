/**
 * `waitForReplicas` on a standalone master with a replica (a managed Redis's primary endpoint),
 * through each client the module supports: the acquire script, WAIT and the ownership check go
 * in one pipeline on one connection. The Cluster and Sentinel specs run the same proof there.
 */
import { Redis } from 'ioredis';
import { startAppOn } from '../support/apps';
import { CLIENT_FLAVOURS, createTestRedisClient } from '../support/redis-clients';
import { RedisServer } from '../support/redis-server';
import { until } from '../support/redis-topologies';
import { expectReplicaAcknowledgedLocks } from '../support/replica-acks';

describe('waitForReplicas on a standalone master with one replica', () => {
  let master: RedisServer;
  let replica: RedisServer;
  let inspector: Redis;
  beforeAll(async () => {
    master = await RedisServer.start();
    replica = await RedisServer.start({
      args: () => ['--replicaof', '127.0.0.1', String(master.port)],
    });
    inspector = new Redis(master.url);
    const replicaClient = new Redis(replica.url);
    try {
      await until('the replica to sync', async () =>
        /^master_link_status:up/m.test(await replicaClient.info('replication')),
      );
    } finally {
      await replicaClient.quit();
    }
  });
  afterAll(async () => {
    await inspector.quit();
    await replica.stop();
    await master.stop();
  });

  it.each(CLIENT_FLAVOURS)(
    'with %s: an acknowledged lock is used, one short of replicas is given back (scripts cached and flushed)',
    (flavour) =>
      expectReplicaAcknowledgedLocks({
        inspector,
        app: async (options) =>
          startAppOn(await createTestRedisClient(flavour, master.url), options),
      }),
  );
});
