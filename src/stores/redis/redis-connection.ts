import type { LoadStatusLogger as Logger } from '../../logger';
import { errorText, LoadStatusConfigError } from '../../errors';
import type { IoRedisConnectionOptions, RedisSource } from '../../redis-source';
import { isIoRedisClient, type IoRedisLike } from './ioredis-client';
import { IoRedisCommands } from './ioredis-commands';
import { isNodeRedisClient, isNodeRedisPool } from './node-redis-client';
import { NodeRedisCommands } from './node-redis-commands';
import type { RedisCommands } from './redis-commands';

/**
 * The adapter for what the app passed as `redis`: a client it lent us (ioredis or node-redis,
 * never closed by us), or a URL, `{ url, ...options }` or ioredis options from which we create
 * (and later close) one. A URL uses ioredis when it is installed, else node-redis (`redis`, or
 * the `@redis/client` that `@keyv/redis` brings).
 */
export function redisCommandsFor(source: RedisSource, logger: Logger): RedisCommands {
  return redisCommandsWith(source, logger, INSTALLED_LIBRARIES);
}

/** The client libraries a connection of ours can be made with; each undefined if not installed. */
export interface ClientLibraries {
  ioredis(): typeof import('ioredis') | undefined;
  nodeRedis(): NodeRedisModule | undefined;
}

const INSTALLED_LIBRARIES: ClientLibraries = {
  ioredis: () => optionalRequire<typeof import('ioredis')>('ioredis'),
  nodeRedis: () =>
    optionalRequire<NodeRedisModule>('redis') ?? optionalRequire<NodeRedisModule>('@redis/client'),
};

/**
 * {@link redisCommandsFor} with the client libraries given rather than found: internal, so that
 * the node-redis path runs in the same process as ioredis (the tests).
 */
export function redisCommandsWith(
  source: RedisSource,
  logger: Logger,
  libraries: ClientLibraries,
): RedisCommands {
  if (isIoRedisClient(source)) return new IoRedisCommands(source, false);
  if (isNodeRedisClient(source)) return borrowedNodeRedis(source);
  const { url, ...rest }: { url?: string; [option: string]: unknown } =
    typeof source === 'string' ? { url: source } : (source as IoRedisConnectionOptions);
  const ioredis = libraries.ioredis();
  if (ioredis) return new IoRedisCommands(ownedIoRedis(ioredis, url, rest, logger), true);
  if (url === undefined) {
    throw new LoadStatusConfigError(
      'redis',
      'connection options without url are ioredis options and need ioredis (npm install ioredis); with node-redis, pass a URL, { url, ...options } or a connected client',
    );
  }
  const nodeRedis = libraries.nodeRedis();
  if (nodeRedis) return new NodeRedisCommands(ownedNodeRedis(nodeRedis, url, rest, logger), true);
  throw new LoadStatusConfigError(
    'redis',
    'a URL needs a Redis client library: npm install ioredis (or redis)',
  );
}

/** The part of node-redis' module (`redis` or `@redis/client`, 5 or 6) we create clients with. */
export interface NodeRedisModule {
  createClient(options: object): {
    on(event: 'error', listener: (error: unknown) => void): unknown;
  };
}

function borrowedNodeRedis(source: unknown): RedisCommands {
  if (isNodeRedisPool(source)) {
    throw new LoadStatusConfigError(
      'redis',
      'a node-redis client pool cannot run a script and what follows it on one connection; pass createClient(), createCluster() or createSentinel()',
    );
  }
  let commands: NodeRedisCommands;
  try {
    commands = new NodeRedisCommands(source, false);
  } catch {
    throw new LoadStatusConfigError(
      'redis',
      'expected a node-redis client from createClient(), createCluster() or createSentinel()',
    );
  }
  if (commands.neverOpened) {
    throw new LoadStatusConfigError(
      'redis',
      'the node-redis client is not connected; call await client.connect() before passing it',
    );
  }
  return commands;
}

/**
 * How a connection we create behaves, said once here in each library's terms; a caller's own
 * options win.
 * - Reconnects 50 ms later per failed attempt, at most 500 ms apart (ioredis backs off to 2 s,
 *   node-redis to 2 s plus jitter): after a failover, every process is back within about half a
 *   second of the new master, so a holder's finish is not left behind its waiters (see the
 *   post-outage handover in load-flow.ts).
 * - A command is not held for a reconnect: the store already fails at once while the connection
 *   is down (`writable`) and bounds every reply by `commandTimeoutMs`; a command that slips in as
 *   the connection drops waits for at most one reconnect attempt (ioredis) or is rejected at once
 *   (node-redis, which has no per-request retry count), never left queued to run long after its
 *   caller gave up.
 * - ioredis connects on the store's first command or `connect()` (lazy), as node-redis always
 *   does. Their duplicates (our subscriber) keep these options; both resubscribe by themselves.
 * Fresh objects per client: node-redis writes the URL's address into the `socket` it is given.
 */
const OWN_CONNECTION = {
  ioredis: () => ({
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    retryStrategy: (attempt: number) => reconnectDelayMs(attempt),
  }),
  nodeRedis: () => ({
    disableOfflineQueue: true,
    // node-redis counts retries from 0, ioredis its attempts from 1.
    socket: { reconnectStrategy: (retries: number) => reconnectDelayMs(retries + 1) },
  }),
};

function reconnectDelayMs(attempt: number): number {
  return Math.min(attempt * 50, 500);
}

function ownedIoRedis(
  ioredis: typeof import('ioredis'),
  url: string | undefined,
  options: object,
  logger: Logger,
): IoRedisLike {
  // No auto-pipelining: measured (npm run bench), its deferral to the next tick costs more
  // latency than batching saves, since a stampede is only a handful of round trips. Pass
  // `enableAutoPipelining: true` in the options to opt in.
  const settings = { ...OWN_CONNECTION.ioredis(), ...options };
  const client = url === undefined ? new ioredis.Redis(settings) : new ioredis.Redis(url, settings);
  client.on('error', (error: unknown) => logger.debug(`redis client error: ${errorText(error)}`));
  return client;
}

function ownedNodeRedis(
  nodeRedis: NodeRedisModule,
  url: string,
  options: { socket?: unknown; [option: string]: unknown },
  logger: Logger,
): ReturnType<NodeRedisModule['createClient']> {
  const ours = OWN_CONNECTION.nodeRedis();
  const socket =
    typeof options.socket === 'object' && options.socket !== null ? options.socket : {};
  const client = nodeRedis.createClient({
    ...ours,
    ...options,
    url,
    socket: { ...ours.socket, ...socket },
  });
  client.on('error', (error: unknown) => logger.debug(`redis client error: ${errorText(error)}`));
  return client;
}

/** The module if the app has it installed, else undefined (it is an optional peer). */
function optionalRequire<T>(name: string): T | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as T;
  } catch (error) {
    if ((error as { code?: string }).code === 'MODULE_NOT_FOUND') return undefined;
    throw error;
  }
}
