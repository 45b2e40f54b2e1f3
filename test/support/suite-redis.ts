import { Redis } from 'ioredis';
import { RedisServer } from './redis-server';

/**
 * A Redis server of the spec's own for the enclosing describe block (or file), with a client of
 * the test's on it: started before its tests, both closed after them.
 */
export function suiteRedis(): { readonly server: RedisServer; readonly inspect: Redis } {
  const redis = {} as { server: RedisServer; inspect: Redis };
  beforeAll(async () => {
    redis.server = await RedisServer.start();
    redis.inspect = new Redis(redis.server.url);
  });
  afterAll(async () => {
    await redis.inspect.quit();
    await redis.server.stop();
  });
  return redis;
}
