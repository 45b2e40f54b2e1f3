/**
 * The module's `refreshAheadMs` against a call's own `loadedTtlMs` (README, "Per call": "a module
 * `refreshAheadMs` that is not below a call's `loadedTtlMs` is off for that call; one given per
 * call must be below it"). A flag set by `setLoaded` with less than the window left stands for a
 * user in the window, with no time spent waiting for it: the next call either refreshes it in
 * the background (`refresh-started`, the loader runs, the caller is served `already-loaded`) or
 * leaves it alone. The background loader is started before the call returns, so nothing is waited
 * for. On the in-memory store and on one real Redis per suite with each client the module drives
 * (the module's own ioredis from a URL, a borrowed node-redis 5 and 6 client), near-cache on and
 * off.
 */
import type { LoadStatusEvent, LoadStatusModuleOptions } from '../../src';
import { startApp, startAppOn, type TestApp } from '../support/apps';
import { uniquePrefix } from '../support/env';
import { recordEvents } from '../support/events';
import {
  CLIENT_FLAVOURS,
  createTestRedisClient,
  type ClientFlavour,
} from '../support/redis-clients';
import { suiteRedis } from '../support/suite-redis';

/** The module's window and TTL. */
const WINDOW_MS = 4_000;
const MODULE_TTL_MS = 100_000;
/**
 * What a user in the window has left (below every window below): long enough that no stall
 * between the flag's write and the call (a loaded machine) lets it run out first.
 */
const LEFT_MS = 1_500;

const redis = suiteRedis();

type Setup = [label: string, flavour: ClientFlavour | 'memory', nearCache: boolean];
const setups: Setup[] = [
  ['the in-memory store', 'memory', false],
  ...CLIENT_FLAVOURS.flatMap((flavour): Setup[] => [
    [`${flavour}, near-cache off`, flavour, false],
    [`${flavour}, near-cache on`, flavour, true],
  ]),
];

describe.each(setups)(
  'the module refreshAheadMs against a call loadedTtlMs: %s',
  (_l, flavour, near) => {
    let app: TestApp;
    let events: LoadStatusEvent[];
    beforeAll(async () => {
      const options: LoadStatusModuleOptions = {
        keyPrefix: uniquePrefix('refresh-window'),
        loadedTtlMs: MODULE_TTL_MS,
        refreshAheadMs: WINDOW_MS,
      };
      app =
        flavour === 'memory'
          ? await startApp({ ...options, store: 'memory' })
          : await startAppOn(await createTestRedisClient(flavour, redis.server.url), {
              ...options,
              nearCache: near,
            });
      events = recordEvents(app);
    });
    afterAll(() => app.close());

    let user = 0;
    /**
     * A fresh user whose flag has `LEFT_MS` left, then one call with `options`: resolves with that
     * call's outcome, how often its loader ran (by the time the call returned), and whether this
     * process started a refresh for that user.
     */
    async function callInWindow(options: { loadedTtlMs: number; refreshAheadMs?: number }) {
      const id = `u-${++user}`;
      await app.status.setLoaded(id, LEFT_MS);
      let runs = 0;
      const outcome = await app.lock.ensureLoaded(id, () => void runs++, options);
      const refreshed = events.some((e) => e.type === 'refresh-started' && e.userId === id);
      return { outcome, runs, refreshed };
    }

    it('is off for a call whose loadedTtlMs equals the window', async () => {
      expect(await callInWindow({ loadedTtlMs: WINDOW_MS })).toEqual({
        outcome: { status: 'already-loaded' },
        runs: 0,
        refreshed: false,
      });
    });

    it('is off for a call whose loadedTtlMs is below the window', async () => {
      expect(await callInWindow({ loadedTtlMs: WINDOW_MS - 100 })).toEqual({
        outcome: { status: 'already-loaded' },
        runs: 0,
        refreshed: false,
      });
    });

    it('applies to a call whose loadedTtlMs is one ms above the window: the flag is refreshed', async () => {
      expect(await callInWindow({ loadedTtlMs: WINDOW_MS + 1 })).toEqual({
        outcome: { status: 'already-loaded' },
        runs: 1,
        refreshed: true,
      });
    });

    it("applies to a call with the module's loadedTtlMs", async () => {
      expect(await callInWindow({ loadedTtlMs: MODULE_TTL_MS })).toMatchObject({
        runs: 1,
        refreshed: true,
      });
    });

    it("a call's own refreshAheadMs below its loadedTtlMs replaces the module's window", async () => {
      // A TTL of 3 s: the module's window (4 s) is off; the call's own (2 s) applies.
      const ownWindow = { loadedTtlMs: 3_000, refreshAheadMs: 2_000 };
      expect(await callInWindow(ownWindow)).toMatchObject({ runs: 1, refreshed: true });
      // A flag with more than the call's window left (but less than the module's) is not refreshed.
      const id = `u-${++user}`;
      await app.status.setLoaded(id, 2_900);
      let runs = 0;
      expect(await app.lock.ensureLoaded(id, () => void runs++, ownWindow)).toEqual({
        status: 'already-loaded',
      });
      expect(runs).toBe(0);
      expect(events.some((e) => e.type === 'refresh-started' && e.userId === id)).toBe(false);
    });

    it("refuses a call's own refreshAheadMs equal to its loadedTtlMs", async () => {
      await expect(
        app.lock.ensureLoaded('refused', () => 'v', { loadedTtlMs: 3_000, refreshAheadMs: 3_000 }),
      ).rejects.toThrow(/refreshAheadMs.*less than loadedTtlMs \(3000\)/);
      expect(await app.status.isLoaded('refused')).toBe(false);
    });
  },
);
