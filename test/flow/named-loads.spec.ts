/**
 * Named loads through the services, on the memory store and across two apps sharing Redis:
 * `clearEveryLoad(key)` clears a key in every load — names another process used included — and
 * `clearAllLoaded({ name })` clears one load for every key, leaving the others.
 */
import { LoadStatusConfigError, LoadStatusEvents, type LoadStatusEvent } from '../../src';
import { resetLoadStatus } from '../../src/testing';
import { startApp, type TestApp } from '../support/apps';
import { redisUrl, uniquePrefix } from '../support/env';

const load = (app: TestApp, key: string, name?: string) =>
  app.lock.ensureLoaded(key, () => Promise.resolve(key), name === undefined ? {} : { name });
const loaded = (app: TestApp, key: string, name?: string) =>
  app.status.isLoaded(key, name === undefined ? {} : { name });

describe.each([
  ['memory', false],
  ['redis, two apps', true],
])('named loads on %s', (_label, twoApps) => {
  let a: TestApp;
  let b: TestApp;
  beforeEach(async () => {
    // Near-caches off: what is asserted is the store's state (a notice dropping the other app's
    // near-cache entries, within notification latency, is the near-cache specs' subject).
    const options = twoApps
      ? { redis: redisUrl(), keyPrefix: uniquePrefix('named'), nearCache: false }
      : { store: 'memory' as const };
    a = await startApp(options);
    b = twoApps ? await startApp(options) : a;
  });
  afterEach(() => Promise.all([a.close(), b.close()]));

  it("clearEveryLoad(key) clears the key in every load, names it never used included, and no other key's", async () => {
    await Promise.all([
      load(a, 'u1'),
      load(a, 'u1', 'servers'),
      load(a, 'u1', 'settings'),
      load(a, 'u2', 'servers'),
    ]);
    await b.status.clearEveryLoad('u1');
    expect(await Promise.all([loaded(a, 'u1'), loaded(a, 'u1', 'servers')])).toEqual([
      false,
      false,
    ]);
    expect(await loaded(a, 'u1', 'settings')).toBe(false);
    expect(await loaded(a, 'u2', 'servers')).toBe(true);
    // The next call of each load runs its loader again.
    await expect(load(a, 'u1', 'settings')).resolves.toMatchObject({ status: 'loaded' });
  });

  it('registers a load again after resetLoadStatus() emptied the registry, so clearEveryLoad still reaches it', async () => {
    await load(a, 'u1', 'servers');
    await resetLoadStatus(a.status);
    await load(a, 'u1', 'servers');
    await b.status.clearEveryLoad('u1');
    expect(await loaded(a, 'u1', 'servers')).toBe(false);
  });

  it('clearAllLoaded({ name }) clears one load for every key and leaves the others', async () => {
    const events: LoadStatusEvent[] = [];
    const subscription = b.app.get(LoadStatusEvents).events$.subscribe((e) => events.push(e));
    await Promise.all(['k1', 'k2', 'k3'].map((k) => load(a, k, 'servers')));
    await Promise.all([load(a, 'k1', 'settings'), load(a, 'k1')]);
    await b.status.clearAllLoaded({ name: 'servers' });
    subscription.unsubscribe();
    expect(await Promise.all(['k1', 'k2', 'k3'].map((k) => loaded(a, k, 'servers')))).toEqual([
      false,
      false,
      false,
    ]);
    expect(await Promise.all([loaded(a, 'k1', 'settings'), loaded(a, 'k1')])).toEqual([true, true]);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'all-cleared', load: 'servers' }),
    );
  });

  it('clearAllLoaded() clears every load, named ones included', async () => {
    await Promise.all([load(a, 'k1', 'servers'), load(a, 'k1')]);
    await b.status.clearAllLoaded();
    expect(await Promise.all([loaded(a, 'k1', 'servers'), loaded(a, 'k1')])).toEqual([
      false,
      false,
    ]);
  });
});

it('clearAllLoaded({ name }) with flags in a cache-manager cache is a typed error, not a silent no-op', async () => {
  const cache = {
    get: () => Promise.resolve(undefined),
    set: <T>(_key: string, value: T) => Promise.resolve(value),
    del: () => Promise.resolve(true),
    ttl: () => Promise.resolve(undefined),
  };
  const app = await startApp({ store: 'memory', cache });
  try {
    await expect(app.status.clearAllLoaded({ name: 'servers' })).rejects.toThrow(
      LoadStatusConfigError,
    );
    await expect(app.status.clearAllLoaded({ name: 'servers' })).rejects.toThrow(
      /cannot clear every flag of the load "servers" while flags live in a cache-manager cache/,
    );
  } finally {
    await app.close();
  }
});
