/**
 * A 'loaded' notice is trusted only from the holder the waiter saw. One published before a
 * caller read the store and delivered after it (its process stalled with the message unread,
 * and the flag it announced ran out meanwhile) must not end the wait: the chaos run caught a
 * caller told 'loaded-elsewhere' within 2 ms while another process was still loading. The late
 * delivery is made exact here: the notice is published by hand while the caller waits on a
 * holder whose lock it saw, and pub/sub delivers it before the holder's own notice.
 */
import type { Redis } from 'ioredis';
import { encodeNotice, NoticeKind } from '../../src/keys';
import { LoadStatusCore } from '../../src/load-status.core';
import { startApp, type TestApp } from '../support/apps';
import { inspector, sleep, uniquePrefix } from '../support/env';
import { RedisServer } from '../support/redis-server';

describe("a waiter and 'loaded' notices", () => {
  let server: RedisServer;
  let inspect: Redis;
  let holder: TestApp;
  let waiter: TestApp;
  beforeAll(async () => {
    server = await RedisServer.start();
    inspect = inspector(server.url);
  });
  afterAll(async () => {
    await inspect.quit();
    await server.stop();
  });
  beforeEach(async () => {
    const options = { redis: server.url, keyPrefix: uniquePrefix('stale'), waitTimeoutMs: 15_000 };
    [holder, waiter] = await Promise.all([startApp(options), startApp(options)]);
  });
  afterEach(() => Promise.all([holder.close(), waiter.close()]));

  /**
   * The holder takes `u`'s lock for 10 s; the waiter's ensureLoaded sees it held and waits; then
   * `notice` (made from the holder's token) is published, and the holder gives its lock back
   * without loading. Resolves with the waiter's outcome and whether its loader ran.
   */
  async function waitThrough(notice: (holderToken: string) => string) {
    const core = holder.app.get(LoadStatusCore);
    const keys = core.keys.forUser('u');
    const lock = await holder.lock.acquireLoadLock('u', 10_000);
    let ran = false;
    const outcome = waiter.lock.ensureLoaded('u', () => {
      ran = true;
      return Promise.resolve('loaded by the waiter');
    });
    // The waiter's acquire saw the lock held: it marked the user as waited on.
    const deadline = performance.now() + 2_000;
    while ((await inspect.exists(keys.waiting)) === 0 && performance.now() < deadline)
      await sleep(5);
    expect(await inspect.exists(keys.waiting)).toBe(1);
    await inspect.publish(core.keys.channel, notice(lock!.token));
    // Delivered after the notice above, on the same channel and connection.
    expect(await lock!.release()).toBe(true);
    return { outcome: await outcome, ran };
  }

  it("ignores a late 'loaded' notice from another holder: it re-checks, and loads when the lock is free", async () => {
    const tag = holder.app.get(LoadStatusCore).keys.forUser('u').tag;
    const { outcome, ran } = await waitThrough(() =>
      encodeNotice(NoticeKind.Loaded, tag, 'an-earlier-holder:1'),
    );
    expect(outcome).toMatchObject({ status: 'loaded', value: 'loaded by the waiter' });
    expect(ran).toBe(true);
  });

  it("ignores a 'loaded' notice that names no holder the same way (only the flag can tell)", async () => {
    const tag = holder.app.get(LoadStatusCore).keys.forUser('u').tag;
    const { outcome, ran } = await waitThrough(() => encodeNotice(NoticeKind.Loaded, tag));
    expect(outcome).toMatchObject({ status: 'loaded' });
    expect(ran).toBe(true);
  });

  it("ends the wait on the 'loaded' notice of the holder it saw", async () => {
    const tag = holder.app.get(LoadStatusCore).keys.forUser('u').tag;
    const { outcome, ran } = await waitThrough((token) =>
      encodeNotice(NoticeKind.Loaded, tag, token),
    );
    expect(outcome).toMatchObject({ status: 'loaded-elsewhere' });
    expect(ran).toBe(false);
  });
});
