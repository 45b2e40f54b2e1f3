/**
 * The Redis clients the suites run on: the same specs pass a URL (the module creates an ioredis
 * client) or a client of each node-redis major the package supports (borrowed: the test closes
 * it after the app). Used in the Jest process and in the load workers.
 */
import type { RedisSource } from '../../src';

export type ClientFlavour = 'ioredis-url' | 'node-redis-5' | 'node-redis-6';

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

/**
 * A client of `flavour` for `url`. `name` names its connection (`CLIENT LIST`), as the harness's
 * `acquireSeen` expects.
 */
export async function createTestRedisClient(
  flavour: ClientFlavour,
  url: string,
  name?: string,
): Promise<TestRedisClient> {
  if (flavour === 'ioredis-url') {
    const source = name === undefined ? url : `${url}?connectionName=${encodeURIComponent(name)}`;
    return { source, close: () => Promise.resolve() };
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
