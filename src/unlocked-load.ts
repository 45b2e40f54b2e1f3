import { LoadWaitTimeoutError } from './errors';
import { elapsed, loadContext, type FlightCall, type LoadOutcome } from './flight';
import type { Flights } from './flights';

/**
 * What a caller does after waiting `waitTimeoutMs` in vain (`started`: when its wait began):
 * throw `LoadWaitTimeoutError`, or run the loader without the lock (`onWaitTimeout: 'run'`),
 * setting the flag if it succeeds. Shutdown aborts such a loader's signal like any other.
 */
export async function runUnlocked<T>(
  flights: Flights,
  { userId, keys, loader, settings }: FlightCall<T>,
  started: number,
): Promise<LoadOutcome<T>> {
  const { core } = flights;
  const waitedMs = elapsed(started);
  if (settings.onWaitTimeout === 'throw') throw new LoadWaitTimeoutError(userId, waitedMs);
  core.logger.warn(
    `waited ${waitedMs} ms for user ${JSON.stringify(userId)}; running the loader without the lock (onWaitTimeout: 'run')`,
  );
  const { events } = core;
  const loadStarted = performance.now();
  const done = { userId, load: keys.load, fencingToken: undefined };
  events.emit({ type: 'load-started', ...done });
  let value: T;
  try {
    value = await flights.unlockedLoad(async (signal) => {
      const ctx = loadContext(userId, undefined, signal, settings.loadedTtlMs);
      const loaded = await loader(ctx);
      core.assertOpen(userId);
      if (ctx.loadedTtlMs > 0) await core.store.setLoaded(keys, ctx.loadedTtlMs);
      return loaded;
    });
  } catch (error) {
    events.emit({ type: 'load-failed', ...done, durationMs: elapsed(loadStarted), error });
    throw error;
  }
  const durationMs = elapsed(loadStarted);
  events.emit({ type: 'load-succeeded', ...done, durationMs });
  return { status: 'loaded', value, fencingToken: undefined, shared: false, durationMs };
}
