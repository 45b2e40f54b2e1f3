import type { Redis } from 'ioredis';
import type { StrategyId } from '../protocol';

/**
 * How a call of the "check flag → lock → re-check → load → set flag → release" flow ended:
 * - `ran-loader`: this call ran the loader;
 * - `joined`: a concurrent call in this process ran it and this call shared that run (library only);
 * - `waited`: another caller loaded while this one waited;
 * - `already-loaded`: the flag was set at the first check.
 */
export type FlowResult = 'ran-loader' | 'joined' | 'waited' | 'already-loaded';

/** One way of loading a user once. Every strategy keeps its keys under its own prefix. */
export interface Strategy {
  readonly id: StrategyId;
  /** False for async-mutex: it coordinates the callers of one process only. */
  readonly crossProcess: boolean;
  /** The whole flow for one user. `signal` cancels a wait where the strategy allows it. */
  ensureLoaded(
    userId: string,
    loader: () => Promise<void>,
    signal: AbortSignal,
  ): Promise<FlowResult>;
  /** Extra warm-up beyond a few flows and lock cycles (e.g. scripts only a long load runs). */
  warmup?(): Promise<void>;
  /** Acquire + release of the user's lock, nothing else. */
  lockCycle(userId: string): Promise<void>;
  close(): Promise<void>;
}

/** A caller gave up waiting (the reference pattern's `waitForLoad` returned false). */
export class WaitTimedOutError extends Error {
  override readonly name = 'WaitTimedOutError';
}

/** Flag TTL of every strategy: the reference pattern's 1 h. */
export const LOADED_TTL_MS = 3_600_000;

/**
 * The "check flag → lock → re-check → load → set flag → release" flow the lock-library strategies
 * share, so each differs only in its lock. `lock()` takes the user's lock and resolves to its
 * release.
 */
export async function checkLockLoad(
  redis: Redis,
  flagKey: string,
  lock: () => Promise<() => unknown>,
  loader: () => Promise<void>,
): Promise<FlowResult> {
  if ((await redis.get(flagKey)) !== null) return 'already-loaded';
  const release = await lock();
  try {
    if ((await redis.get(flagKey)) !== null) return 'waited';
    await loader();
    await redis.set(flagKey, '1', 'PX', LOADED_TTL_MS);
    return 'ran-loader';
  } finally {
    await release();
  }
}
