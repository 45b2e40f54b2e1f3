import type { Logger } from '@nestjs/common';
import { errorText, LoadStatusConfigError } from '../../errors';
import type { RedisSource } from '../../redis-source';
import { IoRedisCommands, isIoRedisClient, type IoRedisLike } from './ioredis-commands';
import { isNodeRedisClient, isNodeRedisPool, NodeRedisCommands } from './node-redis-commands';
import type { RedisCommands } from './redis-commands';

/**
 * The adapter for what the app passed as `redis`: a client it lent us (ioredis or node-redis,
 * never closed by us), or a URL / ioredis options from which we create (and later close) one.
 * A URL uses ioredis when it is installed, else node-redis (`redis`, or the `@redis/client`
 * that `@keyv/redis` brings).
 */
export function redisCommandsFor(source: RedisSource, logger: Logger): RedisCommands {
  if (isIoRedisClient(source)) return new IoRedisCommands(source, false);
  if (isNodeRedisClient(source)) return borrowedNodeRedis(source);
  if (typeof source === 'string') {
    const ioredis = optionalRequire<typeof import('ioredis')>('ioredis');
    if (ioredis) return new IoRedisCommands(ownedIoRedis(ioredis, source, logger), true);
    const nodeRedis =
      optionalRequire<NodeRedisModule>('redis') ??
      optionalRequire<NodeRedisModule>('@redis/client');
    if (nodeRedis) {
      const client = nodeRedis.createClient({ url: source });
      client.on('error', (error: unknown) =>
        logger.debug(`redis client error: ${errorText(error)}`),
      );
      return new NodeRedisCommands(client, true);
    }
    throw new LoadStatusConfigError(
      'redis',
      'a URL needs a Redis client library: npm install ioredis (or redis)',
    );
  }
  const ioredis = optionalRequire<typeof import('ioredis')>('ioredis');
  if (!ioredis) {
    throw new LoadStatusConfigError(
      'redis',
      'connection options are ioredis options and need ioredis (npm install ioredis); with node-redis, pass a connected client or a URL',
    );
  }
  return new IoRedisCommands(ownedIoRedis(ioredis, source, logger), true);
}

interface NodeRedisModule {
  createClient(options: { url: string }): {
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

function ownedIoRedis(
  ioredis: typeof import('ioredis'),
  source: string | object,
  logger: Logger,
): IoRedisLike {
  // No auto-pipelining: measured (npm run bench), its deferral to the next tick costs more
  // latency than batching saves, since a stampede is only a handful of round trips. Pass
  // `enableAutoPipelining: true` in the options to opt in. A caller's options win.
  // Reconnects at most 500 ms apart (ioredis' default backs off to 2 s): after a failover, every
  // process is back within about half a second of the new master, so a holder's finish is not
  // left behind its waiters (see the post-outage handover in load-flow.ts).
  const shared = {
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    retryStrategy: (times: number) => Math.min(times * 50, 500),
  };
  const client =
    typeof source === 'string'
      ? new ioredis.Redis(source, shared)
      : new ioredis.Redis({ ...shared, ...source });
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
