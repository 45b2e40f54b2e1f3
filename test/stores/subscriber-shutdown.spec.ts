/**
 * An app that closes while its notification connection is re-subscribing (Redis came back, and
 * the SUBSCRIBE is still unanswered) closes cleanly: the pending subscription fails quietly
 * instead of as an unhandled rejection, which by Node's default would crash the process on its
 * way out. Staged with a TCP proxy that lets the app reconnect but holds its SUBSCRIBE.
 */
import { sleep, uniquePrefix } from '../support/env';
import { startApp, startAppOn, type TestApp } from '../support/apps';
import { createTestRedisClient, NODE_REDIS_FLAVOURS } from '../support/redis-clients';
import { until } from '../support/redis-topologies';
import { suiteRedis } from '../support/suite-redis';
import { TcpProxy } from '../support/tcp-proxy';
import { recordUnhandledRejections } from '../support/unhandled';

const redis = suiteRedis();

const clients: Array<[string, (url: string) => Promise<TestApp>]> = [
  [
    'ioredis (the module’s own client)',
    (url) => startApp({ redis: url, keyPrefix: uniquePrefix('sub-close') }),
  ],
  ...NODE_REDIS_FLAVOURS.map((flavour): [string, (url: string) => Promise<TestApp>] => [
    `${flavour} (borrowed client)`,
    async (url) =>
      startAppOn(await createTestRedisClient(flavour, url), {
        keyPrefix: uniquePrefix('sub-close'),
      }),
  ]),
];

describe.each(clients)('closing during a re-subscription: %s', (_name, start) => {
  let proxy: TcpProxy;
  let unhandled: ReturnType<typeof recordUnhandledRejections>;
  beforeEach(async () => {
    unhandled = recordUnhandledRejections();
    proxy = await TcpProxy.start(redis.server.port);
  });
  afterEach(async () => {
    unhandled.stop();
    await proxy.close();
  });

  it('closes without waiting on the unanswered connection, and without an unhandled rejection', async () => {
    const app = await start(proxy.url);
    try {
      proxy.cut();
      proxy.mend({ subscribers: 'stall' });
      await until(
        'a re-subscription held by the proxy',
        () => Promise.resolve(proxy.stalledSubscribers > 0),
        10_000,
      );
    } finally {
      const closing = performance.now();
      await app.close();
      // The QUIT it sends there is never answered either: it is given up on, not waited for.
      expect(performance.now() - closing).toBeLessThan(5_000);
    }
    // Rejections surface after the tick they were left on.
    await sleep(100);
    expect(unhandled.reasons).toEqual([]);
  });
});
