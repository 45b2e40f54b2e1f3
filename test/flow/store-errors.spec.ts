import { LoadStatusUnavailableError } from '../../src';
import { startApp, type TestApp } from '../support/apps';
import { inspector, uniquePrefix } from '../support/env';
import { RedisServer } from '../support/redis-server';

describe('store errors (Redis down)', () => {
  let redis: RedisServer;
  let t: TestApp | undefined;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.stop());
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await redis.restart().catch(() => undefined);
  });

  it('fail-closed: calls reject fast with LoadStatusUnavailableError', async () => {
    t = await startApp({
      redis: redis.url,
      keyPrefix: uniquePrefix('closed'),
      onStoreError: 'fail-closed',
      commandTimeoutMs: 200,
    });
    await redis.kill();
    const loader = jest.fn(() => Promise.resolve());
    const started = performance.now();
    await expect(t.lock.ensureLoaded('u', loader)).rejects.toThrow(LoadStatusUnavailableError);
    await expect(t.status.isLoaded('u')).rejects.toThrow(
      /Load status store unavailable during isLoaded/,
    );
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(loader).not.toHaveBeenCalled();
  });

  it('fail-open: loads once per process while Redis is down, and uses Redis again once it is back', async () => {
    const prefix = uniquePrefix('open');
    t = await startApp({
      redis: redis.url,
      keyPrefix: prefix,
      onStoreError: 'fail-open',
      commandTimeoutMs: 200,
    });
    await redis.kill();
    let runs = 0;
    const loader = () => Promise.resolve(++runs);
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () => t!.lock.ensureLoaded('u', loader)),
    );
    expect(runs).toBe(1);
    expect(outcomes.every((o) => o.status === 'loaded')).toBe(true);
    await redis.restart();
    // Recovery is automatic: once the client has reconnected, flags land in Redis again.
    const inspect = inspector(redis.url);
    try {
      let attempt = 0;
      await waitFor(async () => {
        const user = `v${++attempt}`;
        await t!.lock.ensureLoaded(user, loader);
        return (await inspect.exists(`${prefix}:{${user}}:loaded`)) === 1;
      });
    } finally {
      await inspect.quit();
    }
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
