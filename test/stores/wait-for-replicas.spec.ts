/**
 * `waitForReplicas` on a standalone master with a replica (a managed Redis's primary endpoint),
 * through each client the module supports: the acquire script, WAIT and the ownership check go
 * in one pipeline on one connection. The Cluster and Sentinel specs run the same proof there.
 */
import { Redis } from 'ioredis';
import { LoadStatusEvents, LoadWaitTimeoutError } from '../../src';
import { encodeNotice, NoticeKind } from '../../src/keys';
import { LoadStatusCore } from '../../src/load-status.core';
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
      // One acquire per poll over the 1.5 s (at about 0, 400, 800 and 1,200 ms): neither one
      // after the other nor one per wait budget (which gives two: the first and the last).
      expect(given.length).toBeGreaterThanOrEqual(3);
      expect(given.length).toBeLessThanOrEqual(5);
    } finally {
      sub.unsubscribe();
      await app.close();
    }
  });

  it("a caller that saw a holder, then had its own lock given back, still ignores another holder's 'loaded' notice", async () => {
    // The holder's locks are acknowledged (one replica is there); the caller's never are.
    const keyPrefix = uniquePrefix('unreplicated-stale');
    const holder = await startApp({
      redis: master.url,
      keyPrefix,
      waitForReplicas: { replicas: 1, timeoutMs: 500 },
    });
    const caller = await startApp({
      redis: master.url,
      keyPrefix,
      waitForReplicas: { replicas: 2, timeoutMs: 20 },
      pollIntervalMs: 300,
    });
    const keys = caller.app.get(LoadStatusCore).keys.forUser('u');
    let published = false;
    const sub = caller.app.get(LoadStatusEvents).events$.subscribe((e) => {
      if (e.type !== 'lock-unreplicated' || published) return;
      published = true;
      // Delivered while the caller waits out its poll: a 'loaded' notice from a holder it never
      // saw (one published long ago, say). The flag is not set, so it must not end the wait.
      void inspector.publish(
        caller.app.get(LoadStatusCore).keys.channel,
        encodeNotice(NoticeKind.Loaded, keys.tag, 'an-earlier-holder:1'),
      );
    });
    try {
      const lock = await holder.lock.acquireLoadLock('u', 10_000);
      expect(lock).not.toBeNull();
      const loader = jest.fn(() => 'must not run');
      const outcome = caller.lock.ensureLoaded('u', loader, { waitTimeoutMs: 1_500 });
      await until(
        'the caller to wait on the holder',
        async () => (await inspector.exists(keys.waiting)) === 1,
      );
      // The caller, woken by the release, takes the lock itself: unreplicated, given back.
      expect(await lock!.release()).toBe(true);
      await expect(outcome).rejects.toThrow(LoadWaitTimeoutError);
      expect(published).toBe(true);
      expect(loader).not.toHaveBeenCalled();
      expect(await inspector.exists(keys.loaded)).toBe(0);
    } finally {
      sub.unsubscribe();
      await Promise.all([holder.close(), caller.close()]);
    }
  });
});
