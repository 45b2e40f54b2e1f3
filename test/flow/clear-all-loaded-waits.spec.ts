/**
 * `clearAllLoaded()` as `waitForLoad` sees it: a flag set before the clear does not end a wait
 * begun after it (on Redis the old flag is still there until its TTL: only its generation says it
 * no longer counts), and a load that was running across the clear, whose finish sets no flag,
 * does not end a wait that was already waiting — the wait goes on until a flag of the new
 * generation is set.
 *
 * Waits here are ended by notices or by their timeout only (`pollIntervalMs` is far above every
 * wait), and "the notice reached the waiter" is observed, not slept for: a second wait, on a
 * marker user, is ended by a notice published after the one under test, on the same channel.
 * On the in-memory store (one app) and on one real Redis per suite with each client the module
 * drives: two apps with the near-cache off, and one app with the near-cache on.
 */
import type { LoadStatusModuleOptions } from '../../src';
import { deferred, startApp, startAppOn, type TestApp } from '../support/apps';
import { uniquePrefix, userKey } from '../support/env';
import { whenEvent } from '../support/events';
import {
  CLIENT_FLAVOURS,
  createTestRedisClient,
  type ClientFlavour,
} from '../support/redis-clients';
import { until } from '../support/redis-topologies';
import { suiteRedis } from '../support/suite-redis';

/** Far above every wait here: only a notice (or a timeout) ends one. */
const POLL_MS = 10_000;
const WAIT_MS = 10_000;

const redis = suiteRedis();

type Setup = [label: string, flavour: ClientFlavour | 'memory', apps: 1 | 2];
const setups: Setup[] = [
  ['the in-memory store (one app)', 'memory', 1],
  ...CLIENT_FLAVOURS.flatMap((flavour): Setup[] => [
    [`${flavour}, two apps, near-cache off`, flavour, 2],
    [`${flavour}, one app, near-cache on`, flavour, 1],
  ]),
];

describe.each(setups)('clearAllLoaded seen through waitForLoad: %s', (_label, flavour, apps) => {
  /** `a` clears, sets and loads; `b` waits (the same app when `apps` is 1). */
  let a: TestApp;
  let b: TestApp;
  let keyPrefix: string;
  const start = (options: LoadStatusModuleOptions): Promise<TestApp> =>
    flavour === 'memory'
      ? startApp({ ...options, store: 'memory' })
      : createTestRedisClient(flavour, redis.server.url).then((client) =>
          startAppOn(client, { ...options, nearCache: apps === 1 }),
        );
  beforeEach(async () => {
    keyPrefix = uniquePrefix('clear-all-waits');
    const options = { keyPrefix, pollIntervalMs: POLL_MS };
    a = await start(options);
    b = apps === 1 ? a : await start(options);
  });
  afterEach(() => Promise.all([a.close(), b.close()]));

  /** Resolves once `b`'s wait for `user` has read the store (and, on Redis, marked the user). */
  async function waiting(user: string): Promise<void> {
    if (flavour === 'memory') return new Promise((resolve) => setImmediate(resolve));
    const mark = userKey(keyPrefix, user, 'waiting');
    await until(
      `the wait for ${user}`,
      async () => (await redis.inspect.exists(mark)) === 1,
      5_000,
      2,
    );
  }

  it('a waitForLoad after it does not count a flag set before it, and counts one set after it', async () => {
    await a.status.setLoaded('u');
    expect(await b.status.waitForLoad('u', { timeoutMs: 0 })).toBe(true);
    await a.status.clearAllLoaded();
    expect(await b.status.waitForLoad('u', { timeoutMs: 0 })).toBe(false);
    const wait = b.status.waitForLoad('u', { timeoutMs: WAIT_MS });
    await waiting('u');
    await a.status.setLoaded('u');
    expect(await wait).toBe(true);
  });

  it('a waitForLoad waiting when it runs is not ended by the load that ran across it, and is by the next flag', async () => {
    const release = deferred<string>();
    const loadStarted = whenEvent(a, (e) => e.type === 'load-started' && e.userId === 'v');
    const holding = a.lock.ensureLoaded('v', () => release.promise);
    await loadStarted;
    let ended: boolean | undefined;
    const wait = b.status.waitForLoad('v', { timeoutMs: WAIT_MS }).then((loaded) => {
      ended = loaded;
      return loaded;
    });
    const marker = b.status.waitForLoad('marker', { timeoutMs: WAIT_MS });
    await Promise.all([waiting('v'), waiting('marker')]);

    await a.status.clearAllLoaded();
    release.resolve('old');
    // The load ends for its own caller, but began in the old generation: no flag.
    await expect(holding).resolves.toMatchObject({ status: 'loaded', value: 'old' });
    // A notice published after that finish's has reached b: so has the finish's.
    await a.status.setLoaded('marker');
    expect(await marker).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ended).toBeUndefined();
    expect(await b.status.isLoaded('v')).toBe(false);

    // A load in the new generation ends it.
    expect(await a.lock.ensureLoaded('v', () => 'new')).toMatchObject({ status: 'loaded' });
    expect(await wait).toBe(true);
  });
});
