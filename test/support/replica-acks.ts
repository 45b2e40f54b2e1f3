import { Cluster, type Redis } from 'ioredis';
import { LoadStatusEvents, type LoadStatusEvent, type LoadStatusModuleOptions } from '../../src';
import type { TestApp } from './apps';
import { uniquePrefix, userKey } from './env';
import { until } from './redis-topologies';

/** What {@link expectReplicaAcknowledgedLocks} needs of a Redis with replicas. */
export interface ReplicatedRedis {
  /** An app on it, with its own client of the flavour under test. */
  app(options: Omit<LoadStatusModuleOptions, 'redis'>): Promise<TestApp>;
  /** The test's own client: reads keys from their master, flushes scripts on every master. */
  inspector: Redis | Cluster;
}

/** The masters the inspector reaches: every master of a Cluster, or the one master. */
function masters(inspector: Redis | Cluster): Redis[] {
  return inspector instanceof Cluster ? inspector.nodes('master') : [inspector];
}

/**
 * The fewest replicas any master has, once every replica a master sees is in sync (`INFO
 * replication`: `state=online`; one still in its first sync acknowledges nothing yet).
 */
async function replicasPerMaster(inspector: Redis | Cluster): Promise<number> {
  await inspector.ping(); // a Cluster knows its masters once it answers
  let states: string[][] = [];
  await until('every replica to be in sync', async () => {
    states = await Promise.all(
      masters(inspector).map(async (m) =>
        [...(await m.info('replication')).matchAll(/^slave\d+:.*state=(\w+)/gm)].map((x) => x[1]),
      ),
    );
    return states.every((s) => s.length > 0 && s.every((state) => state === 'online'));
  });
  return Math.min(...states.map((s) => s.length));
}

/**
 * `waitForReplicas` through the client under test (the acquire script, WAIT and the ownership
 * check, pipelined on one connection): a lock every replica acknowledged is used; one that
 * needs more replicas than exist is given back (`lock-unreplicated` with the acks WAIT
 * counted) and never used. Each with the scripts cached, and flushed (EVALSHA answers NOSCRIPT:
 * the pipeline is sent again with EVAL).
 */
export async function expectReplicaAcknowledgedLocks(redis: ReplicatedRedis): Promise<void> {
  const { inspector } = redis;
  const replicas = await replicasPerMaster(inspector);
  expect(replicas).toBeGreaterThan(0);
  const keyPrefix = uniquePrefix('acks');
  const acked = await redis.app({ keyPrefix, waitForReplicas: { replicas, timeoutMs: 500 } });
  const tooMany = await redis.app({
    keyPrefix,
    waitForReplicas: { replicas: replicas + 1, timeoutMs: 100 },
  });
  const events: LoadStatusEvent[] = [];
  const subscription = tooMany.app.get(LoadStatusEvents).events$.subscribe((e) => events.push(e));
  try {
    const flush = async (scripts: 'cached' | 'flushed') => {
      if (scripts === 'flushed')
        await Promise.all(masters(inspector).map((m) => m.script('FLUSH')));
    };
    for (const scripts of ['cached', 'flushed'] as const) {
      await flush(scripts);
      const user = `acked-${scripts}`;
      const lock = await acked.lock.acquireLoadLock(user);
      expect(lock).not.toBeNull();
      expect(await inspector.get(userKey(keyPrefix, user, 'lock'))).toBe(lock!.token);
      expect(await acked.lock.releaseLoadLock(lock!)).toBe(true);
      await expect(acked.lock.ensureLoaded(user, () => 'v')).resolves.toMatchObject({
        status: 'loaded',
      });
      expect(await inspector.exists(userKey(keyPrefix, user, 'loaded'))).toBe(1);

      await flush(scripts);
      const unacked = `unacked-${scripts}`;
      expect(await tooMany.lock.acquireLoadLock(unacked)).toBeNull();
      expect(events.filter((e) => e.userId === unacked)).toEqual([
        expect.objectContaining({
          type: 'lock-unreplicated',
          acks: replicas,
          replicas: replicas + 1,
        }),
      ]);
      expect(await inspector.exists(userKey(keyPrefix, unacked, 'lock'))).toBe(0);
    }
  } finally {
    subscription.unsubscribe();
    await Promise.all([acked.close(), tooMany.close()]);
  }
}
