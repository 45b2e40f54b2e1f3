/**
 * `waitForReplicas` on a standalone master with a replica (a managed Redis's primary endpoint),
 * through each client the module supports: the acquire script, WAIT and the ownership check go
 * in one pipeline on one connection. The Cluster and Sentinel specs run the same proof there.
 */
import { Redis } from 'ioredis';
import { LoadStatusEvents, LoadWaitTimeoutError } from '../../src';
import { startApp, startAppOn } from '../support/apps';
import { uniquePrefix } from '../support/env';
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

  it('a caller whose locks are never acknowledged enough re-asks every pollIntervalMs, then times out', async () => {
    const app = await startApp({
      redis: master.url,
      keyPrefix: uniquePrefix('unreplicated'),
      waitForReplicas: { replicas: 2, timeoutMs: 20 },
      pollIntervalMs: 400,
    });
    const given: unknown[] = [];
    const sub = app.app
      .get(LoadStatusEvents)
      .events$.subscribe((e) => e.type === 'lock-unreplicated' && given.push(e));
    try {
      const loader = jest.fn(() => 'must not run');
      await expect(app.lock.ensureLoaded('u', loader, { waitTimeoutMs: 1_500 })).rejects.toThrow(
        LoadWaitTimeoutError,
      );
      expect(loader).not.toHaveBeenCalled();
      // One acquire per poll over the 1.5 s, not one after the other.
      expect(given.length).toBeGreaterThanOrEqual(2);
      expect(given.length).toBeLessThanOrEqual(5);
    } finally {
      sub.unsubscribe();
      await app.close();
    }
  });
});
