import { Redis } from 'ioredis';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { LoadLockService } from '../../src';
import { LoadStatusCore } from '../../src/load-status.core';
import { IN_FLIGHT } from '../../src/internal';
import { startApp, type TestApp } from '../support/apps';
import { sleep, uniquePrefix } from '../support/env';
import { RedisServer } from '../support/redis-server';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// Longer than a batch takes under --detectOpenHandles on a slow 2-core machine (~1.6 s seen for
// 1,000 users, so ~0.8 s for a batch of 500), so no flag expires before the other app reads it
// and every user loads exactly once.
const LOADED_TTL_MS = 3_000;
// 2,000 flights at once saturate the event loop under --detectOpenHandles: with the default 1 s,
// replies still queued behind it count as store timeouts, and fail-open then loads in-process
// (216 such acquires seen in one run). This spec measures memory, not the error policy.
const COMMAND_TIMEOUT_MS = 15_000;
const BATCH = 500;
/**
 * Enough users that 100 bytes kept per user would show (1.4 MB, above the ±0.6 MB the heap moves
 * by after GC between rounds here), few enough for the time budget.
 */
const USERS = 15_000;
const KEPT_BYTES_PER_USER = 100;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

/** Internal counts that must fall back to zero once nothing is in flight. */
function liveState(t: TestApp) {
  const core = t.app.get(LoadStatusCore);
  const service: LoadLockService = t.app.get(LoadLockService);
  const { flights, held } = service[IN_FLIGHT]();
  return {
    waiters: core.waiters.size,
    flights,
    held,
    nearCache: core.nearCache?.cache.size ?? 0,
  };
}

describe(`memory after ${USERS} distinct users were loaded and waited on`, () => {
  let server: RedisServer;
  let inspect: Redis;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    server = await RedisServer.start();
    inspect = new Redis(server.url);
    const options = {
      redis: server.url,
      keyPrefix: uniquePrefix('mem'),
      loadedTtlMs: LOADED_TTL_MS,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    };
    [a, b] = await Promise.all([startApp(options), startApp(options)]);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    await inspect.quit();
    await server.stop();
  });

  /** Each user requested by both apps at once: one loads, the other waits for it. */
  async function round(prefix: string, users: number): Promise<{ loads: number; waits: number }> {
    let loads = 0;
    let waits = 0;
    const loader = async () => {
      loads++;
      await new Promise((r) => setImmediate(r));
    };
    for (let start = 0; start < users; start += BATCH) {
      const ids = Array.from(
        { length: Math.min(BATCH, users - start) },
        (_, i) => `${prefix}-${start + i}`,
      );
      const outcomes = await Promise.all(
        ids.flatMap((id) => [a.lock.ensureLoaded(id, loader), b.lock.ensureLoaded(id, loader)]),
      );
      waits += outcomes.filter((o) => o.status === 'loaded-elsewhere').length;
    }
    return { loads, waits };
  }

  /** Lets every flag and near-cache entry expire, then uses the caches so their sweeps run. */
  async function quiesce(): Promise<void> {
    await sleep(LOADED_TTL_MS + 100);
    await a.status.setLoaded('hot');
    for (let i = 0; i < 2_100; i++) {
      await a.status.isLoaded('hot');
      await b.status.isLoaded('hot');
    }
  }

  it('returns heap, waiters, flights, locks, near-cache entries and subscriptions to baseline', async () => {
    await round('warm', 2_000);
    await quiesce();
    const baseline = heapAfterGc();
    const subscriptionsBefore = await inspect.call(
      'PUBSUB',
      'NUMSUB',
      `${a.app.get(LoadStatusCore).keys.channel}`,
    );

    const { loads, waits } = await round('user', USERS);
    expect(loads).toBe(USERS); // once per user across both apps
    expect(waits).toBeGreaterThan(0); // and some callers really waited on the other app

    await quiesce();
    const after = heapAfterGc();
    for (const t of [a, b])
      expect(liveState(t)).toEqual({ waiters: 0, flights: 0, held: 0, nearCache: 1 });
    expect(
      await inspect.call('PUBSUB', 'NUMSUB', `${a.app.get(LoadStatusCore).keys.channel}`),
    ).toEqual(subscriptionsBefore);
    // Every user retaining even KEPT_BYTES_PER_USER bytes would add this much.
    const growthMb = (after - baseline) / 1024 / 1024;
    process.stdout.write(
      `memory: heap ${(baseline / 1048576).toFixed(1)} MB -> ${(after / 1048576).toFixed(1)} MB after ${USERS} users (${waits} waits)\n`,
    );
    expect(growthMb).toBeLessThan((USERS * KEPT_BYTES_PER_USER) / 1024 / 1024);
  }, 180_000);
});
