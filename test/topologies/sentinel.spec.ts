/**
 * The load-once flow on a real Sentinel group: one master, two replicas and three sentinels
 * (down-after 1 s), started once for this file and torn down after. Clients: ioredis Sentinel
 * options (the module creates the client) and node-redis 5 and 6 `createSentinel` clients.
 * Failovers are real: the master is SIGKILLed and the sentinels promote a replica.
 */
import type { Redis } from 'ioredis';
import { LoadStatusEvents, type LoadLock, type LoadStatusEvent } from '../../src';
import { uniquePrefix, userKey } from '../support/env';
import { expectReplicaAcknowledgedLocks } from '../support/replica-acks';
import { SENTINEL_FLAVOURS } from '../support/redis-clients';
import { RedisSentinelTopology, redisCli, until } from '../support/redis-topologies';
import { workerPool } from '../multi-process/harness';
import type { TestApp } from '../support/apps';
import {
  describeFailover,
  expectClearAllReachesEveryApp,
  expectCrashedHolderReplaced,
  expectNearCacheInvalidatedEverywhere,
  expectStampedeRunsOnce,
  healthOf,
  masterKilledMidLoad,
  percentiles,
  sentinelTopology,
  type FailoverRun,
} from './scenarios';

describe('on a Sentinel group (1 master, 2 replicas, 3 sentinels)', () => {
  const pool = workerPool();
  let group: RedisSentinelTopology;
  let inspect: Redis;

  beforeAll(async () => {
    group = await RedisSentinelTopology.start();
    inspect = sentinelTopology(group, 'ioredis-sentinel-options').inspector() as Redis;
    inspect.on('error', () => undefined);
  }, 60_000);
  afterAll(async () => {
    await inspect?.quit().catch(() => inspect.disconnect());
    await group?.stop();
  });

  describe.each(SENTINEL_FLAVOURS)('with %s', (flavour) => {
    it('with waitForReplicas, an acknowledged lock is used and one short of replicas is given back (scripts cached and flushed)', () =>
      expectReplicaAcknowledgedLocks({
        inspector: inspect,
        app: (options) => sentinelTopology(group, flavour).app(options),
      }));

    it('sends notices by classic pub/sub on the master (no Cluster: nothing to shard)', async () => {
      const app = await sentinelTopology(group, flavour).app({ keyPrefix: uniquePrefix('s-path') });
      try {
        expect(await healthOf(app)).toMatchObject({
          status: 'up',
          noticePath: 'classic',
        });
        expect(await healthOf(app)).not.toHaveProperty('noticePathReason');
      } finally {
        await app.close();
      }
    });

    it(
      'runs the loader once for 4 processes × 50 callers; waiters are woken by the notice',
      () => expectStampedeRunsOnce(pool, sentinelTopology(group, flavour), inspect),
      60_000,
    );
  });

  it("invalidates another app's near-cache within notification latency", async () => {
    const latencies = await expectNearCacheInvalidatedEverywhere(
      sentinelTopology(group, 'ioredis-sentinel-options'),
    );
    console.log(`sentinel near-cache invalidation: ${JSON.stringify(percentiles(latencies))} ms`);
  });

  it('clearAllLoaded reaches another app within notification latency', () =>
    expectClearAllReachesEveryApp(sentinelTopology(group, 'ioredis-sentinel-options')));

  it(
    'replaces a crashed holder once its lease runs out, with a higher fencing token',
    () =>
      expectCrashedHolderReplaced(
        pool,
        sentinelTopology(group, 'ioredis-sentinel-options'),
        inspect,
      ),
    60_000,
  );

  describe('when the master is killed mid-load', () => {
    const runs: FailoverRun[] = [];
    afterAll(() => console.log(runs.map((r) => describeFailover('sentinel', r)).join('\n')));
    const topology = () => sentinelTopology(group, 'ioredis-sentinel-options');

    it("with the default outageGraceMs under fail-open, callers already waiting ride it out: no caller error, at most one load more than the holder's (measured)", async () => {
      const run = await masterKilledMidLoad(pool, topology(), 'fail-open', undefined);
      runs.push(run);
      // 1 when the holder's client is back within the post-outage hold (most runs); 2 when not.
      expect(run.loads).toBeLessThanOrEqual(2);
      expect(run.errors).toEqual({});
    }, 90_000);

    it('with outageGraceMs 0 under fail-open, at most one load per process (measured), and none fails', async () => {
      const run = await masterKilledMidLoad(pool, topology(), 'fail-open', 0);
      runs.push(run);
      expect(run.loads).toBeLessThanOrEqual(4);
      expect(run.errors).toEqual({});
    }, 90_000);

    it("under fail-closed with the default grace, no caller error and at most one load more than the holder's (measured)", async () => {
      const run = await masterKilledMidLoad(pool, topology(), 'fail-closed', undefined);
      runs.push(run);
      // 1 when the holder's client is back within the post-outage hold (most runs); 2 when not.
      expect(run.loads).toBeLessThanOrEqual(2);
      expect(run.errors).toEqual({});
    }, 90_000);
  });

  /**
   * The failover double-grant window: app A takes a user's lock while the replicas' links are
   * stalled (frozen with SIGSTOP and their replication connections dropped), the master dies,
   * a replica that never got the lock is promoted, and app B asks for the same lock.
   */
  async function lockAcrossAnUnreplicatedFailover(waitForReplicas?: {
    replicas: number;
    timeoutMs: number;
  }): Promise<{
    a: LoadLock | null;
    b: LoadLock;
    aReleased: boolean;
    bHolds: boolean;
    events: LoadStatusEvent[];
  }> {
    const keyPrefix = uniquePrefix('s-double');
    const user = 'one-lock';
    const topology = sentinelTopology(group, 'ioredis-sentinel-options');
    // fail-closed: a lock is a Redis grant or an error, never an in-process fallback.
    const options = {
      keyPrefix,
      lockTtlMs: 60_000,
      onStoreError: 'fail-closed' as const,
      ...(waitForReplicas === undefined ? {} : { waitForReplicas }),
    };
    const apps: TestApp[] = [];
    const replicas = await group.replicas();
    const master = await group.masterPort();
    let killed = false;
    try {
      apps.push(await topology.app(options), await topology.app(options));
      const [appA, appB] = apps;
      const events: LoadStatusEvent[] = [];
      const sub = appA.app.get(LoadStatusEvents).events$.subscribe((e) => events.push(e));
      for (const r of replicas) r.signal('SIGSTOP');
      await redisCli(master, 'CLIENT', 'KILL', 'TYPE', 'replica');
      const a = await appA.lock.acquireLoadLock(user);
      await group.node(master).kill();
      killed = true;
      for (const r of replicas) r.signal('SIGCONT');
      await group.waitForPromotion(master);
      // The replica that was not promoted replicates the new master (so a lock can be
      // acknowledged), as the sentinels would make it after a while.
      await group.replicasFollowMaster();
      // Both apps' clients follow the promotion (fail-closed: they throw until then).
      let b: LoadLock | null = null;
      await until(
        "app B's lock on the promoted master",
        async () => (b = await appB.lock.acquireLoadLock(user)) !== null,
        30_000,
      );
      let aReleased = false;
      if (a !== null)
        await until(
          "app A's release on the promoted master",
          async () => ((aReleased = await appA.lock.releaseLoadLock(a)), true),
          30_000,
        );
      sub.unsubscribe();
      // The lock in Redis now is B's.
      let bHolds = false;
      await until('the inspector on the promoted master', async () => {
        bHolds = (await inspect.get(userKey(keyPrefix, user, 'lock')))?.includes(b!.token) === true;
        return true;
      });
      return { a, b: b!, aReleased, bHolds, events };
    } finally {
      for (const r of replicas) r.signal('SIGCONT');
      await Promise.all(apps.map((app) => app.close()));
      if (killed) await group.heal(master);
    }
  }

  it('without waitForReplicas, a failover can hand a lock out twice; the later holder has the higher fencing token', async () => {
    const { a, b, aReleased, bHolds } = await lockAcrossAnUnreplicatedFailover();
    expect(bHolds).toBe(true);
    // A was granted the lock by the old master and its 60 s lease has not run out: two holders.
    expect(a).not.toBeNull();
    expect(aReleased).toBe(false);
    // Why it stays safe downstream: B's token is higher, so a store that keeps the highest token
    // it has seen refuses A's late writes.
    expect(b.fencingToken).toBeGreaterThan(a!.fencingToken);
  }, 90_000);

  it('with waitForReplicas { replicas: 1 }, the unacknowledged lock is given back and never used: one holder', async () => {
    const { a, bHolds, events } = await lockAcrossAnUnreplicatedFailover({
      replicas: 1,
      timeoutMs: 100,
    });
    expect(a).toBeNull();
    expect(bHolds).toBe(true);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'lock-unreplicated',
        userId: 'one-lock',
        acks: 0,
        replicas: 1,
      }),
    );
  }, 90_000);
});
