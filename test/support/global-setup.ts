import { NO_REDIS_MESSAGE, RedisServer, hasRedisServerBinary } from './redis-server';

declare global {
  var __LOAD_STATUS_REDIS__: RedisServer | undefined;
}

/**
 * One `redis-server` for the run, on a free port, unless REDIS_URL names one. Tests that must kill
 * or restart Redis start their own with `RedisServer.start()`.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.REDIS_URL) {
    process.env.LOAD_STATUS_TEST_REDIS_URL = process.env.REDIS_URL;
    return;
  }
  if (!hasRedisServerBinary()) throw new Error(NO_REDIS_MESSAGE);
  const server = await RedisServer.start();
  globalThis.__LOAD_STATUS_REDIS__ = server;
  process.env.LOAD_STATUS_TEST_REDIS_URL = server.url;
}
