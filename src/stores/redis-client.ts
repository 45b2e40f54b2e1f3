import type { Cluster, Redis } from 'ioredis';

export type RedisClient = Redis | Cluster;

/** True for an ioredis `Redis` or `Cluster` instance, from any copy of ioredis. */
export function isRedisClient(value: unknown): value is RedisClient {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RedisClient).duplicate === 'function' &&
    typeof (value as RedisClient).defineCommand === 'function' &&
    typeof (value as RedisClient).status === 'string'
  );
}

export function isCluster(client: RedisClient): client is Cluster {
  return (
    typeof (client as Cluster).nodes === 'function' &&
    (client as { isCluster?: boolean }).isCluster === true
  );
}

/** QUIT politely; a connection that is already down is disconnected instead of waited on. */
export async function quit(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
