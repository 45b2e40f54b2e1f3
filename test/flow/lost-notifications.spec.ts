/**
 * While the notification channel is down (the subscriber cut off, commands still answered), a
 * wait cannot be ended by a notice: one that starts then must re-check every `pollIntervalMs`
 * instead of sleeping until the holder's lease would end. Two apps on one Redis; the holder
 * keeps a 10 s lease, far above every bound below. (A waiter already asleep when the channel
 * drops is left to its timer, by design: see README, "Waiting".)
 */
import type { Redis } from 'ioredis';
import { filter, firstValueFrom } from 'rxjs';
import { LoadStatusEvents } from '../../src';
import { LoadStatusCore } from '../../src/load-status.core';
import { startApp, type TestApp } from '../support/apps';
import { inspector, sleep, uniquePrefix } from '../support/env';
import { RedisServer } from '../support/redis-server';
import { cutOffSubscribers } from '../support/subscribers';

const POLL_MS = 50;
const LEASE_MS = 10_000;
/** Several polls, and far below the lease: only polling explains an end this soon. */
const WITHIN_MS = 1_500;

describe('waiters while notifications are down', () => {
  let server: RedisServer;
  let inspect: Redis;
  let holder: TestApp;
  let waiter: TestApp;
  let restore: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    server = await RedisServer.start();
    inspect = inspector(server.url);
  });
  afterAll(async () => {
    await inspect.quit();
    await server.stop();
  });
  beforeEach(async () => {
    const options = {
      redis: server.url,
      keyPrefix: uniquePrefix('lost'),
      pollIntervalMs: POLL_MS,
      waitTimeoutMs: 15_000,
    };
    [holder, waiter] = await Promise.all([startApp(options), startApp(options)]);
  });
  afterEach(async () => {
    await restore?.();
    restore = undefined;
    await Promise.all([holder.close(), waiter.close()]);
  });

  const channelOf = (t: TestApp) => t.app.get(LoadStatusCore).store;

  async function channelGone(t: TestApp): Promise<void> {
    const deadline = performance.now() + 2_000;
    while (channelOf(t).notificationsLive && performance.now() < deadline) await sleep(5);
    expect(channelOf(t).notificationsLive).toBe(false);
  }

  /** Resolves once the waiter's acquire has marked the user as waited on. */
  async function waiterIsWaiting(user: string): Promise<void> {
    const mark = `${holder.app.get(LoadStatusCore).keys.forUser(user).waiting}`;
    const deadline = performance.now() + 2_000;
    while ((await inspect.exists(mark)) === 0 && performance.now() < deadline) await sleep(5);
    expect(await inspect.exists(mark)).toBe(1);
  }

  it('a caller that starts waiting while the channel is down polls, and sees the load within a few polls', async () => {
    const lock = await holder.lock.acquireLoadLock('u', LEASE_MS);
    restore = await cutOffSubscribers(inspect);
    await channelGone(waiter);
    const waitEnded = firstValueFrom(
      waiter.app.get(LoadStatusEvents).events$.pipe(filter((e) => e.type === 'wait-ended')),
    );
    const waiting = waiter.lock.ensureLoaded('u', () => Promise.resolve('must not run'));
    await waiterIsWaiting('u');
    const setAt = performance.now();
    await holder.status.setLoaded('u'); // its notice cannot reach the waiter
    expect(await waiting).toMatchObject({ status: 'loaded-elsewhere' });
    expect(performance.now() - setAt).toBeLessThan(WITHIN_MS);
    // A poll found the flag (no notice came).
    expect(await waitEnded).toMatchObject({ reason: 'loaded-elsewhere' });
    await lock!.release();
  });

  it('waitForLoad polls too, and returns true soon after the flag is set', async () => {
    restore = await cutOffSubscribers(inspect);
    await channelGone(waiter);
    const waiting = waiter.status.waitForLoad('w', { timeoutMs: LEASE_MS });
    await waiterIsWaiting('w');
    const setAt = performance.now();
    await holder.status.setLoaded('w');
    expect(await waiting).toBe(true);
    expect(performance.now() - setAt).toBeLessThan(WITHIN_MS);
  });
});
