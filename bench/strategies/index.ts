import type { SteadySetup, SteadyVariant, StrategyId } from '../protocol';
import { AsyncMutexStrategy } from './async-mutex';
import { LibraryStrategy } from './library';
import { RedisSemaphoreStrategy } from './redis-semaphore';
import { RedlockStrategy } from './redlock';
import { ReferenceStrategy } from './reference';
import type { Strategy } from './types';

export type { FlowResult, Strategy } from './types';

/** Human-readable names used in the tables. */
export const STRATEGY_LABELS: Record<StrategyId, string> = {
  library: 'nestjs-load-status',
  reference: 'reference (poll 100 ms)',
  redlock: '@sesamecare-oss/redlock',
  'redis-semaphore': 'redis-semaphore Mutex',
  'async-mutex': 'async-mutex (in-process)',
};

/** Creates a strategy with its own Redis connection(s), ready to use. */
export async function createStrategy(id: StrategyId, redisUrl: string): Promise<Strategy> {
  switch (id) {
    case 'library':
      return LibraryStrategy.create(redisUrl);
    case 'reference':
      return ReferenceStrategy.create(redisUrl);
    case 'redlock':
      return RedlockStrategy.create(redisUrl);
    case 'redis-semaphore':
      return RedisSemaphoreStrategy.create(redisUrl);
    case 'async-mutex':
      return AsyncMutexStrategy.create(redisUrl);
  }
}

/** Row labels of part 7 (steady traffic across TTL expiry). */
export function steadyLabel(variant: SteadyVariant, setup: SteadySetup): string {
  const ttl = `flag TTL ${setup.loadedTtlMs} ms`;
  switch (variant) {
    case 'library':
      return `nestjs-load-status, no refresh-ahead (${ttl})`;
    case 'library-refresh-ahead':
      return `nestjs-load-status, refreshAheadMs ${setup.refreshAheadMs} (${ttl})`;
    case 'reference':
      return `reference (poll 100 ms), ${ttl}`;
  }
}

/**
 * A part-7 row's strategy: the library with default options but `loadedTtlMs` (and, for
 * `library-refresh-ahead`, `refreshAheadMs`), or the reference pattern with that flag TTL; each on
 * its own key prefix.
 */
export async function createSteadyStrategy(
  variant: SteadyVariant,
  redisUrl: string,
  setup: SteadySetup,
): Promise<Strategy> {
  switch (variant) {
    case 'library':
      return LibraryStrategy.create(redisUrl, {
        keyPrefix: 'bench-steady-lib',
        loadedTtlMs: setup.loadedTtlMs,
      });
    case 'library-refresh-ahead':
      return LibraryStrategy.create(redisUrl, {
        keyPrefix: 'bench-steady-lib-ahead',
        loadedTtlMs: setup.loadedTtlMs,
        refreshAheadMs: setup.refreshAheadMs,
      });
    case 'reference':
      return ReferenceStrategy.create(redisUrl, setup.loadedTtlMs, 'bench-steady-ref');
  }
}
