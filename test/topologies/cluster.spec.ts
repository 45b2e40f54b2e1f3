/**
 * The load-once flow on a real Redis Cluster: 3 masters with a replica each, started once for
 * this file (cluster-node-timeout 1 s) and torn down after. The clients are an ioredis `Cluster`
 * and node-redis 5 and 6 `createCluster` clients, as apps hand them to the module. Every spec
 * runs real worker processes or real Nest apps against the real Cluster; failovers are real
 * (the master serving a user's slot is SIGKILLed and its replica promoted).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import type { Cluster } from 'ioredis';
import { KeyBuilder } from '../../src/keys';
import { sleep, uniquePrefix, userKey } from '../support/env';
import { expectReplicaAcknowledgedLocks } from '../support/replica-acks';
import { CLUSTER_FLAVOURS } from '../support/redis-clients';
import { RedisClusterTopology, redisCli } from '../support/redis-topologies';
import { workerPool } from '../multi-process/harness';
import {
  clusterTopology,
  expectClearAllReachesEveryApp,
  expectCrashedHolderReplaced,
  describeFailover,
  healthOf,
  masterKilledMidLoad,
  expectNearCacheInvalidatedEverywhere,
  percentiles,
  expectResetReachesEveryMaster,
  expectStampedeRunsOnce,
  type FailoverRun,
} from './scenarios';

const ROOT = resolve(__dirname, '..', '..');
const CLOSE_DURING_REFRESH = resolve(ROOT, 'test', 'fixtures', 'close-during-slot-refresh.ts');

describe('on a Redis Cluster (3 masters + 3 replicas)', () => {
  const pool = workerPool();
  let cluster: RedisClusterTopology;
  let inspect: Cluster;

  beforeAll(async () => {
    cluster = await RedisClusterTopology.start();
    inspect = clusterTopology(cluster, 'ioredis-cluster').inspector() as Cluster;
    inspect.on('error', () => undefined);
  }, 60_000);
  afterAll(async () => {
    await inspect?.quit().catch(() => inspect.disconnect());
    await cluster?.stop();
  });

  describe.each(CLUSTER_FLAVOURS)('with %s', (flavour) => {
    it('with waitForReplicas, an acknowledged lock is used and one short of replicas is given back (scripts cached and flushed)', () =>
      expectReplicaAcknowledgedLocks({
        inspector: inspect,
        app: (options) => clusterTopology(cluster, flavour).app(options),
      }));

    const shardedClient = flavour !== 'node-redis-5-cluster';

    it(`sends notices ${shardedClient ? 'shard-locally (SPUBLISH / SSUBSCRIBE)' : 'by classic pub/sub, saying why'}, in the log and the health details`, async () => {
      const topology = clusterTopology(cluster, flavour);
      const keyPrefix = uniquePrefix('cluster-path');
      const app = await topology.app({ keyPrefix });
      try {
        const health = await healthOf(app);
        const keys = new KeyBuilder(keyPrefix);
        const userChannel = keys.forUser('some-user').shardChannel;
        const owner = await cluster.masterPortOf(userChannel);
        const shardSubscribers = Number(
          (await redisCli(owner, 'PUBSUB', 'SHARDNUMSUB', userChannel)).split('\n')[1],
        );
        const classicSubscribers = Number(
          (
            await Promise.all(
              (await cluster.masterPorts()).map(async (port) =>
                Number((await redisCli(port, 'PUBSUB', 'NUMSUB', keys.channel)).split('\n')[1]),
              ),
            )
          ).reduce((a, b) => a + b, 0),
        );
        const classic = {
          health: {
            noticePath: 'classic',
            noticePathReason: expect.stringMatching(/node-redis before 6\.1/),
          },
          shardSubscribers: 0,
          classicSubscribers: 1,
        };
        const sharded = {
          health: { noticePath: 'sharded' },
          shardSubscribers: 1,
          classicSubscribers: 0,
        };
        expect({ health, shardSubscribers, classicSubscribers }).toMatchObject(
          shardedClient ? sharded : classic,
        );
        expect(health.noticePathReason === undefined).toBe(shardedClient);
      } finally {
        await app.close();
      }
    });

    it('clearAllLoaded reaches another app on every shard within notification latency', () =>
      expectClearAllReachesEveryApp(clusterTopology(cluster, flavour)));

    it(
      'runs the loader once for 4 processes × 50 callers; waiters are woken by the notice',
      () => expectStampedeRunsOnce(pool, clusterTopology(cluster, flavour), inspect),
      60_000,
    );
  });

  it("invalidates another app's near-cache within notification latency", async () => {
    const latencies = await expectNearCacheInvalidatedEverywhere(
      clusterTopology(cluster, 'ioredis-cluster'),
    );
    console.log(
      `cluster near-cache invalidation, sharded notices: ${JSON.stringify(percentiles(latencies))} ms`,
    );
  });

  it(
    'replaces a crashed holder once its lease runs out, with a higher fencing token',
    () => expectCrashedHolderReplaced(pool, clusterTopology(cluster, 'ioredis-cluster'), inspect),
    60_000,
  );

  it('lets a process exit on its own after app.close(), even with a slot refresh in flight at the close', async () => {
    const child = spawn(
      process.execPath,
      [
        '-r',
        '@swc-node/register',
        CLOSE_DURING_REFRESH,
        ...(await cluster.masterPorts()).map(String),
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const closed = new Promise<void>((resolve) =>
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('closed')) resolve();
      }),
    );
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(child, 'exit').then(([code]) => code as number | null);
    await Promise.race([closed, exited]);
    // Nothing of the module's is left to keep it alive: it exits within a few ms, not 3 s.
    const result = await Promise.race([exited, sleep(3_000).then(() => 'still alive' as const)]);
    if (result === 'still alive') child.kill('SIGKILL');
    expect({ result, output }).toEqual({ result: 0, output: 'closed\n' });
  });

  it('follows a slot moved under a replica-acknowledged lock (MOVED inside the EVALSHA + WAIT pipeline)', async () => {
    const keyPrefix = uniquePrefix('cluster-moved');
    const app = await clusterTopology(cluster, 'ioredis-cluster').app({
      keyPrefix,
      onStoreError: 'fail-closed',
      waitForReplicas: { replicas: 1, timeoutMs: 500 },
    });
    try {
      // The client learns the slot map, then the slot moves under it.
      expect(await app.lock.ensureLoaded('before-move', () => 'v')).toMatchObject({
        status: 'loaded',
      });
      const user = 'moved-user';
      const { to } = await cluster.moveSlotOf(userKey(keyPrefix, user, 'lock'));
      const lock = await app.lock.acquireLoadLock(user);
      expect(lock).not.toBeNull();
      expect(await redisCli(to, 'GET', userKey(keyPrefix, user, 'lock'))).toBe(lock!.token);
      expect(await app.lock.releaseLoadLock(lock!)).toBe(true);
      expect(await app.lock.ensureLoaded(user, () => 'w')).toMatchObject({ status: 'loaded' });
    } finally {
      await app.close();
    }
  });

  it('reset() reaches every master and no other prefix', () =>
    expectResetReachesEveryMaster(clusterTopology(cluster, 'ioredis-cluster'), inspect));

  describe('when the master of a loading user is killed mid-load', () => {
    const runs: FailoverRun[] = [];
    afterAll(() => console.log(runs.map((r) => describeFailover('cluster', r)).join('\n')));

    it("with the default outageGraceMs under fail-open, callers already waiting ride it out: no caller error, at most one load more than the holder's (measured)", async () => {
      const run = await masterKilledMidLoad(
        pool,
        clusterTopology(cluster, 'ioredis-cluster'),
        'fail-open',
        undefined,
      );
      runs.push(run);
      // 1 when the holder's client is back within the post-outage hold (most runs); 2 when not.
      expect(run.loads).toBeLessThanOrEqual(2);
      expect(run.errors).toEqual({});
    }, 90_000);

    it('with outageGraceMs 0 under fail-open, at most one load per process (measured), and none fails', async () => {
      const run = await masterKilledMidLoad(
        pool,
        clusterTopology(cluster, 'ioredis-cluster'),
        'fail-open',
        0,
      );
      runs.push(run);
      expect(run.loads).toBeLessThanOrEqual(4);
      expect(run.errors).toEqual({});
    }, 90_000);

    it("under fail-closed with the default grace, no caller error and at most one load more than the holder's (measured)", async () => {
      const run = await masterKilledMidLoad(
        pool,
        clusterTopology(cluster, 'ioredis-cluster'),
        'fail-closed',
        undefined,
      );
      runs.push(run);
      // 1 when the holder's client is back within the post-outage hold (most runs); 2 when not.
      expect(run.loads).toBeLessThanOrEqual(2);
      expect(run.errors).toEqual({});
    }, 90_000);
  });
});
