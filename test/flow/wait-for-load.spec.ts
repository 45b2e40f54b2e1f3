import { resetLoadStatus } from '../../src/testing';
import { createLoadStatus } from '../../src/standalone';
import { LoadStatusShutdownError, type LoadStatusModuleOptions } from '../../src';
import { startApp, type TestApp } from '../support/apps';
import { redisUrl, sleep, uniquePrefix } from '../support/env';

describe('waitForLoad across two connections to one Redis', () => {
  let a: TestApp;
  let b: TestApp;
  beforeEach(async () => {
    // A poll interval far above every bound below: only a notification can explain a fast wake-up.
    const options: LoadStatusModuleOptions = {
      redis: redisUrl(),
      keyPrefix: uniquePrefix('wait'),
      pollIntervalMs: 60_000,
    };
    [a, b] = await Promise.all([startApp(options), startApp(options)]);
  });
  afterEach(() => Promise.all([a.close(), b.close()]));

  it("returns true within a few ms of another connection's setLoaded", async () => {
    const waiting = b.status.waitForLoad('u1', { timeoutMs: 10_000 });
    await sleep(50);
    const setAt = performance.now();
    await a.status.setLoaded('u1');
    expect(await waiting).toBe(true);
    expect(performance.now() - setAt).toBeLessThan(25);
  });

  it('returns true at once for a user that is already loaded', async () => {
    await a.status.setLoaded('u2');
    expect(await b.status.waitForLoad('u2', { timeoutMs: 0 })).toBe(true);
  });

  it('returns false at its timeout', async () => {
    const started = performance.now();
    expect(await b.status.waitForLoad('never', { timeoutMs: 150 })).toBe(false);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(145);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('rejects promptly on abort with the signal reason', async () => {
    const controller = new AbortController();
    const waiting = b.status.waitForLoad('never', { timeoutMs: 10_000, signal: controller.signal });
    await sleep(30);
    const abortedAt = performance.now();
    const reason = new Error('client went away');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(performance.now() - abortedAt).toBeLessThan(25);
  });

  it('rejects at once for a signal that is already aborted', async () => {
    await expect(
      b.status.waitForLoad('never', { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('ignores a clear and keeps waiting for the set', async () => {
    let settledAt: number | undefined;
    const waiting = b.status.waitForLoad('u3', { timeoutMs: 10_000 });
    void waiting.finally(() => (settledAt = performance.now()));
    await sleep(20);
    await a.status.clearLoaded('u3'); // notifies every process: 'cleared', not 'loaded'
    await sleep(50);
    expect(settledAt).toBeUndefined();
    const setAt = performance.now();
    await a.status.setLoaded('u3');
    expect(await waiting).toBe(true);
    expect(settledAt).toBeGreaterThanOrEqual(setAt);
  });

  it('is not ended by a lock released without loading: it times out false', async () => {
    const waiting = b.status.waitForLoad('u4', { timeoutMs: 300 });
    await sleep(20);
    const lock = await a.lock.acquireLoadLock('u4');
    expect(await lock!.release()).toBe(true); // notifies 'released' to whoever waits
    expect(await waiting).toBe(false);
    expect(await b.status.isLoaded('u4')).toBe(false);
  });

  it('ends with LoadStatusShutdownError when its module shuts down', async () => {
    const waiting = b.status.waitForLoad('never', { timeoutMs: 10_000 });
    await sleep(10);
    const settled = expect(waiting).rejects.toThrow(LoadStatusShutdownError);
    await b.close();
    await settled;
  });
});

describe('waitForLoad on the memory store', () => {
  it('falls back to polling every pollIntervalMs when a notification is missed', async () => {
    const app = await startApp({ pollIntervalMs: 20 });
    try {
      // Write the flag behind the notifier's back, as a lost message would leave it.
      const core = app.app.get((await import('../../src/load-status.core')).LoadStatusCore);
      const waiting = app.status.waitForLoad('quiet', { timeoutMs: 5_000 });
      await sleep(10);
      const store = core.store as unknown as { flags: Map<string, number> };
      store.flags.set(core.keys.forUser('quiet').tag, performance.now() + 60_000);
      const started = performance.now();
      expect(await waiting).toBe(true);
      expect(performance.now() - started).toBeLessThan(200);
    } finally {
      await app.close();
    }
  });
});

describe('resetLoadStatus() (nestjs-load-status/testing)', () => {
  it.each([
    ['memory', () => ({})],
    ['redis', () => ({ redis: redisUrl(), keyPrefix: uniquePrefix('reset') })],
  ])(
    'clears every flag and lock of its prefix on the %s store, and nothing else',
    async (_name, options) => {
      const t = await startApp(options());
      const other = await startApp({ redis: redisUrl(), keyPrefix: uniquePrefix('keep') });
      try {
        await t.status.setLoaded('a');
        await t.status.setLoaded('a', { name: 'servers' });
        await t.lock.acquireLoadLock('b', 60_000);
        await other.status.setLoaded('a');
        await resetLoadStatus(t.status);
        expect(await t.status.isLoaded('a')).toBe(false);
        expect(await t.status.isLoaded('a', { name: 'servers' })).toBe(false);
        expect(await t.lock.acquireLoadLock('b')).not.toBeNull();
        expect(await other.status.isLoaded('a')).toBe(true);
        expect(await t.lock.ensureLoaded('a', () => Promise.resolve('again'))).toMatchObject({
          status: 'loaded',
          value: 'again',
        });
      } finally {
        await Promise.all([t.close(), other.close()]);
      }
    },
  );

  it('is not a method of the production service, and refuses what is not a registration', async () => {
    const t = await startApp({ store: 'memory' });
    try {
      expect('reset' in t.status).toBe(false);
      await expect(resetLoadStatus({} as never)).rejects.toThrow(
        /"resetLoadStatus": expected LoadStatusService \(or LoadFlags\) or what createLoadStatus\(\) returned, got object/,
      );
    } finally {
      await t.close();
    }
  });

  it('resets what createLoadStatus() returned', async () => {
    const loadStatus = await createLoadStatus({ store: 'memory' });
    try {
      await loadStatus.status.setLoaded('a');
      await resetLoadStatus(loadStatus);
      expect(await loadStatus.status.isLoaded('a')).toBe(false);
    } finally {
      await loadStatus.close();
    }
  });
});
