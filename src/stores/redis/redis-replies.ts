import type { AcquireResult, FinishResult } from '../load-store';

/*
 * What the Redis scripts' replies (see `redis-scripts.ts`) mean to the store port. Every integer
 * goes through Number(): a borrowed client may use `stringNumbers`, which turns it into a string.
 */

/** PTTL's reply as a remaining lifetime: -2 (no key) is undefined, -1 (no expiry) is "forever". */
export function ttlFromPttl(reply: unknown): number | undefined {
  const pttl = Number(reply);
  if (pttl === -2) return undefined;
  return pttl === -1 ? Number.MAX_SAFE_INTEGER : pttl;
}

/**
 * The acquire script's reply, for a lease of `ttlMs`: {2, flag pttl} loaded | {3, flag pttl}
 * loaded, refreshing | {1, fence, lineage, generation, flag pttl or -2} acquired | {0, lock pttl,
 * holder's token} held.
 */
export function acquireResult(reply: unknown, ttlMs: number): AcquireResult {
  const [state, value, lineage, generation, flagLeft] = reply as [
    number | string,
    number | string,
    string | undefined,
    string | number | undefined,
    number | string | undefined,
  ];
  const code = Number(state);
  if (code === 2) return { state: 'loaded', remainingMs: ttlFromPttl(value) ?? 0 };
  if (code === 3)
    return { state: 'loaded', remainingMs: ttlFromPttl(value) ?? 0, refreshing: true };
  if (code === 1)
    return {
      state: 'acquired',
      fencingToken: Number(value),
      incarnation: `redis:${lineage}`,
      // '' when the flag was not checked (a bare acquireLoadLock, which never finishes).
      ...(generation ? { generation: String(generation) } : {}),
      ...(Number(flagLeft) >= 0 ? { refreshOf: Number(flagLeft) } : {}),
    };
  // PTTL is -1 only for a lock someone set by hand without expiry: wait a full lease then.
  return {
    state: 'held',
    remainingMs: Number(value) >= 0 ? Number(value) : ttlMs,
    ...(lineage ? { holder: String(lineage) } : {}),
  };
}

/** The finish script's reply: {1 if the lock was still ours, 1 if the load counts}. */
export function finishResult(reply: unknown): FinishResult {
  const [owned, committed] = reply as [number | string, number | string];
  return { owned: Number(owned) === 1, committed: Number(committed) === 1 };
}
