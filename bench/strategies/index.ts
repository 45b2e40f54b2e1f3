import type { StrategyId } from '../protocol';
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
