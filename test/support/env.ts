import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { KeyBuilder } from '../../src/keys';
import { assertServersAllowed, NO_REDIS_MESSAGE } from './redis-server';

/** URL of the run's Redis (started by the global setup, or REDIS_URL). */
export function redisUrl(): string {
  assertServersAllowed();
  const url = process.env.LOAD_STATUS_TEST_REDIS_URL;
  if (!url) throw new Error(NO_REDIS_MESSAGE);
  return url;
}

/** A key prefix no other test uses, so tests sharing one Redis never see each other's keys. */
export function uniquePrefix(label = 'test'): string {
  return `ls-${label}-${randomUUID().slice(0, 8)}`;
}

/** A plain client for inspecting Redis from a test; close it with `quit()`. */
export function inspector(url = redisUrl()): Redis {
  return new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
}

export { sleep } from './clock';

/**
 * A user's key as the module names it (src/keys.ts is the one place keys are built), in the
 * load `load` (default: the unnamed load).
 */
export function userKey(
  keyPrefix: string,
  userId: string,
  kind: 'loaded' | 'lock' | 'fence' | 'waiting' | 'finished',
  load?: string,
): string {
  return new KeyBuilder(keyPrefix).forLoad(load, userId)[kind];
}
