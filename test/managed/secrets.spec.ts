/**
 * No log line, error message, error cause, event or health output carries a password or a URL
 * with credentials. Every line of a Nest logger (every level) is collected across a failed boot
 * (a wrong password), a bad option, an outage (Redis killed under a logged-in app) and the
 * recovery, with everything the module hands out, and searched for the secrets.
 */
import { Redis } from 'ioredis';
import { LoadStatusEvents, LoadStatusHealthIndicator, type LoadStatusEvent } from '../../src';
import { uniquePrefix } from '../support/env';
import { RedisServer } from '../support/redis-server';
import { until } from '../support/redis-topologies';
import { aclRule } from './acl';
import { bootWithLogs, CollectingLogger } from '../support/logged-app';
import { leaksIn, textOf } from '../support/leaks';

const ADMIN_PASSWORD = 'admin-Secret-4be1';
const APP_PASSWORD = 'app-Secret-77d0';
const WRONG_PASSWORD = 'wrong-Secret-3c9a';
const SECRETS = [ADMIN_PASSWORD, APP_PASSWORD, WRONG_PASSWORD];

/** The secrets `text` holds, and whether it holds a URL with a password still in it. */
const leaks = (text: string): string[] => leaksIn(text, SECRETS);

describe('secrets never leave the module', () => {
  let server: RedisServer;
  let admin: Redis;
  const prefix = uniquePrefix('secrets');
  const user = 'secret-app';
  beforeAll(async () => {
    server = await RedisServer.start({ args: () => ['--requirepass', ADMIN_PASSWORD] });
    admin = new Redis({ port: server.port, password: ADMIN_PASSWORD });
    admin.on('error', () => undefined);
    await admin.call('ACL', 'SETUSER', user, 'reset', 'on', `>${APP_PASSWORD}`, ...aclRule(prefix));
  });
  afterAll(async () => {
    admin.disconnect();
    await server.stop();
  });

  it('keeps them out of logs, errors, events and health across a failed boot, an outage and the recovery', async () => {
    const logger = new CollectingLogger();
    const handedOut: unknown[] = [];

    // 1. A failed boot: the wrong password, in a URL.
    handedOut.push(
      await bootWithLogs(
        { redis: `redis://${user}:${WRONG_PASSWORD}@127.0.0.1:${server.port}`, keyPrefix: prefix },
        logger,
      ).then(
        () => new Error('expected the boot to fail'),
        (e: unknown) => e,
      ),
    );
    // 2. A bad option that carries a password (not a redis:// URL).
    handedOut.push(
      await bootWithLogs(
        { redis: `http://${user}:${APP_PASSWORD}@127.0.0.1:1`, keyPrefix: prefix },
        logger,
      ).then(
        () => new Error('expected the boot to fail'),
        (e: unknown) => e,
      ),
    );
    // 3. A logged-in app (password in options), through an outage and the recovery.
    const app = await bootWithLogs(
      {
        redis: { host: '127.0.0.1', port: server.port, username: user, password: APP_PASSWORD },
        keyPrefix: prefix,
        commandTimeoutMs: 300,
      },
      logger,
    );
    const events: LoadStatusEvent[] = [];
    const subscription = app.app.get(LoadStatusEvents).events$.subscribe((e) => events.push(e));
    const health = app.app.get(LoadStatusHealthIndicator);
    try {
      await app.lock.ensureLoaded('before', () => Promise.resolve(1));
      await server.kill();
      handedOut.push(await health.isHealthy());
      handedOut.push(await app.lock.ensureLoaded('during', () => Promise.resolve(2)));
      handedOut.push(await app.status.isLoaded('during').catch((e: unknown) => e));
      await server.restart();
      await admin.call(
        'ACL',
        'SETUSER',
        user,
        'reset',
        'on',
        `>${APP_PASSWORD}`,
        ...aclRule(prefix),
      );
      await until('the app to be back on Redis', async () => {
        await app.lock.ensureLoaded(`probe-${Math.random()}`, () => Promise.resolve(3));
        return (
          !app.app.get(LoadStatusHealthIndicator) ||
          (await health.isHealthy())['load-status'].status === 'up'
        );
      });
      handedOut.push(await health.isHealthy());
    } finally {
      subscription.unsubscribe();
      await app.close();
    }

    // It all happened: a failed boot, an outage seen by the module, a recovery.
    expect(handedOut[0]).toMatchObject({
      name: 'LoadStatusConfigError',
      option: 'redis',
      cause: { name: 'LoadStatusRejectedError', reason: 'WRONGPASS' },
    });
    expect(handedOut[1]).toMatchObject({ name: 'LoadStatusConfigError', option: 'redis' });
    expect(events.some((e) => e.type === 'store-error')).toBe(true);
    expect(events.some((e) => e.type === 'store-recovered')).toBe(true);
    expect(logger.lines.some((l) => l.level === 'warn')).toBe(true);

    const everything = [
      ...logger.lines.map((l) => `${l.level} ${l.message} ${l.rest}`),
      ...handedOut.map((v) => textOf(v)),
      ...events.map((e) => textOf(e)),
    ].join('\n');
    expect(leaks(everything)).toEqual([]);
  });
});
