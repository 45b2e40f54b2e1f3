/**
 * The Redis clients the suites run on: the same specs pass a URL (the module creates an ioredis
 * client) or a client of each node-redis major the package supports, or of iovalkey (the Valkey
 * project's fork of ioredis), borrowed: the test closes it after the app. Used in the Jest
 * process and in the load workers.
 */
import type { RedisSource } from '../../src';

export type ClientFlavour = 'ioredis-url' | 'node-redis-5' | 'node-redis-6' | 'iovalkey-client';

/** An ioredis or iovalkey `Redis` or `Cluster`, as the tests use one. */
interface IoClient {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** iovalkey's `Redis` and `Cluster` (it has ioredis's API). */
interface IoValkey {
  Redis: new (...args: unknown[]) => IoClient;
  Cluster: new (...args: unknown[]) => IoClient;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const iovalkey = (): IoValkey => require('iovalkey') as IoValkey;

/** An ioredis-API client the test made, handed to the module, and closed by the test after it. */
function borrowedIoClient(client: IoClient): TestRedisClient {
  client.on('error', () => undefined); // it reconnects by itself; the module logs what matters
  return {
    source: client,
    close: async () => void (await client.quit().catch(() => client.disconnect())),
  };
}

/** Every flavour, for `describe.each`. */
export const CLIENT_FLAVOURS: readonly ClientFlavour[] = [
  'ioredis-url',
  'node-redis-5',
  'node-redis-6',
];

/** The node-redis majors only (the URL flavour is what the other specs use). */
export const NODE_REDIS_FLAVOURS: readonly ClientFlavour[] = ['node-redis-5', 'node-redis-6'];

export interface TestRedisClient {
  /** What to pass as the module's `redis` option. */
  readonly source: RedisSource;
  /** Closes the client if the test created one (after the app that borrowed it closed). */
  close(): Promise<void>;
}

interface NodeRedisTestClient {
  isOpen: boolean;
  isReady: boolean;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): unknown;
}

/** A client of `flavour` for `url`; `name` names its connection (`CLIENT LIST` shows it). */
export async function createTestRedisClient(
  flavour: ClientFlavour,
  url: string,
  name?: string,
): Promise<TestRedisClient> {
  if (flavour === 'ioredis-url') {
    const source = name === undefined ? url : `${url}?connectionName=${encodeURIComponent(name)}`;
    return { source, close: () => Promise.resolve() };
  }
  if (flavour === 'iovalkey-client') {
    return borrowedIoClient(
      new (iovalkey().Redis)(url, {
        maxRetriesPerRequest: 1,
        ...(name === undefined ? {} : { connectionName: name }),
      }),
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const library = require(flavour === 'node-redis-5' ? 'redis5' : 'redis') as {
    createClient(options: object): NodeRedisTestClient;
  };
  const client = library.createClient({ url, ...(name === undefined ? {} : { name }) });
  client.on('error', () => undefined); // it reconnects by itself; the module logs what matters
  await client.connect();
  return {
    source: client as unknown as RedisSource,
    close: async () => {
      if (!client.isOpen) return;
      if (client.isReady) await client.close();
      else await client.destroy();
    },
  };
}

/** Clients of a Redis Cluster or a Sentinel group, as apps hand them to the module. */
export type TopologyFlavour =
  | 'ioredis-cluster'
  | 'node-redis-5-cluster'
  | 'node-redis-6-cluster'
  | 'ioredis-sentinel-options'
  | 'node-redis-5-sentinel'
  | 'node-redis-6-sentinel'
  | 'iovalkey-cluster'
  /** An iovalkey `Redis` given `sentinels` (borrowed; the module creates only ioredis clients). */
  | 'iovalkey-sentinel';

export const CLUSTER_FLAVOURS: readonly TopologyFlavour[] = [
  'ioredis-cluster',
  'node-redis-5-cluster',
  'node-redis-6-cluster',
];
export const SENTINEL_FLAVOURS: readonly TopologyFlavour[] = [
  'ioredis-sentinel-options',
  'node-redis-5-sentinel',
  'node-redis-6-sentinel',
];

/** iovalkey's Cluster and Sentinel clients: the store contract runs on them too. */
export const IOVALKEY_TOPOLOGY_FLAVOURS: readonly TopologyFlavour[] = [
  'iovalkey-cluster',
  'iovalkey-sentinel',
];

/** Whether `flavour` is a client of a Cluster (else of a Sentinel group). */
export const isClusterFlavour = (flavour: TopologyFlavour): boolean => flavour.endsWith('-cluster');

interface NodeRedisTopologyClient {
  isOpen: boolean;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): unknown;
}

/**
 * A client of `flavour` for a topology: `startupNodes` of a Cluster, or the sentinels of a group
 * monitoring `masterName`. ioredis Sentinel is given as options (the module creates the client).
 */
export async function createTopologyClient(
  flavour: TopologyFlavour,
  nodes: ReadonlyArray<{ host: string; port: number }>,
  masterName = 'mymaster',
): Promise<TestRedisClient> {
  if (flavour === 'ioredis-cluster') {
    const { Cluster } = await import('ioredis');
    return borrowedIoClient(new Cluster([...nodes], { redisOptions: { maxRetriesPerRequest: 1 } }));
  }
  if (flavour === 'ioredis-sentinel-options') {
    return { source: { sentinels: [...nodes], name: masterName }, close: () => Promise.resolve() };
  }
  if (flavour === 'iovalkey-cluster' || flavour === 'iovalkey-sentinel') {
    const { Cluster, Redis } = iovalkey();
    return borrowedIoClient(
      flavour === 'iovalkey-cluster'
        ? new Cluster([...nodes], { redisOptions: { maxRetriesPerRequest: 1 } })
        : new Redis({ sentinels: [...nodes], name: masterName, maxRetriesPerRequest: 1 }),
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const library = require(flavour.startsWith('node-redis-5') ? 'redis5' : 'redis') as {
    createCluster(options: object): NodeRedisTopologyClient;
    createSentinel(options: object): NodeRedisTopologyClient;
  };
  const client = flavour.endsWith('-cluster')
    ? library.createCluster({
        rootNodes: nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
      })
    : library.createSentinel({ name: masterName, sentinelRootNodes: [...nodes] });
  client.on('error', () => undefined);
  await client.connect();
  return {
    source: client as unknown as RedisSource,
    close: async () => {
      if (client.isOpen) await client.close().catch(() => client.destroy());
    },
  };
}
