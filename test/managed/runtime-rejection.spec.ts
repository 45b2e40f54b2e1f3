/**
 * An ACL changed under a running app (a permission revoked) is a misconfiguration too: under
 * fail-open as well, callers get LoadStatusRejectedError (not an in-process load), the log has an
 * error, an event says `rejected`, and the health indicator is down with the cause — until the
 * permission is back.
 */
import { Redis } from 'ioredis';
import {
  LoadStatusEvents,
  LoadStatusHealthIndicator,
  LoadStatusConfigError,
  LoadStatusRejectedError,
  type LoadStatusEvent,
} from '../../src';
import { uniquePrefix } from '../support/env';
import { until } from '../support/redis-topologies';
import { RedisServer } from '../support/redis-server';
import { aclRule } from './acl';
import { bootWithLogs, type LoggedApp } from '../support/logged-app';

const ADMIN_PASSWORD = 'admin-pass-91c2';
const APP_PASSWORD = 'app-pass-5d07';

describe('an ACL permission revoked under a running app', () => {
  let server: RedisServer;
  let admin: Redis;
  let app: LoggedApp;
  let prefix: string;
  const user = 'running-app';
  beforeAll(async () => {
    server = await RedisServer.start({ args: () => ['--requirepass', ADMIN_PASSWORD] });
    admin = new Redis({ port: server.port, password: ADMIN_PASSWORD });
    prefix = uniquePrefix('revoked');
    await admin.call('ACL', 'SETUSER', user, 'reset', 'on', `>${APP_PASSWORD}`, ...aclRule(prefix));
    app = await bootWithLogs({
      redis: `redis://${user}:${APP_PASSWORD}@127.0.0.1:${server.port}`,
      keyPrefix: prefix,
    });
  });
  afterAll(async () => {
    await app.close();
    await admin.quit();
    await server.stop();
  });

  it('gives callers LoadStatusRejectedError, logs an error, emits rejected, reports down; and recovers', async () => {
    const events: LoadStatusEvent[] = [];
    const subscription = app.app.get(LoadStatusEvents).events$.subscribe((e) => events.push(e));
    const health = app.app.get(LoadStatusHealthIndicator);
    try {
      await expect(
        app.lock.ensureLoaded('before', () => Promise.resolve(1)),
      ).resolves.toMatchObject({ status: 'loaded' });
      await admin.call('ACL', 'SETUSER', user, '-evalsha', '-eval');

      const loader = jest.fn(() => Promise.resolve(2));
      const error: unknown = await app.lock.ensureLoaded('after', loader).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LoadStatusRejectedError);
      expect(error).toMatchObject({ reason: 'NOPERM', operation: 'acquire' });
      // A refusal under a running app is not a bad option: its own class, its own words.
      expect(error).not.toBeInstanceOf(LoadStatusConfigError);
      expect((error as Error).message).toMatch(/^Redis rejected acquire \(NOPERM: /);
      expect(loader).not.toHaveBeenCalled(); // no silent in-process load under fail-open
      expect(app.lines.filter((l) => l.level === 'error').map((l) => l.message)).toEqual([
        expect.stringMatching(
          /^Redis rejected acquire \(NOPERM: NOPERM this user has no permissions to run the 'evalsha' command\)/,
        ),
      ]);
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'store-error', operation: 'acquire', kind: 'rejected' }),
      );
      expect((await health.isHealthy('ls'))['ls']).toMatchObject({
        status: 'down',
        rejected: 'NOPERM',
        onStoreError: 'fail-open',
      });

      await admin.call('ACL', 'SETUSER', user, '+evalsha', '+eval');
      await expect(app.lock.ensureLoaded('after', loader)).resolves.toMatchObject({
        status: 'loaded',
        value: 2,
      });
      expect((await health.isHealthy('ls'))['ls']).toMatchObject({ status: 'up' });
      expect((await health.isHealthy('ls'))['ls']).not.toHaveProperty('rejected');
      expect(app.lines.map((l) => l.message)).toContain('Redis accepts the module again');
    } finally {
      subscription.unsubscribe();
    }
  });

  it("reports down with the subscriber's refusal when the notice channel is revoked, before any call", async () => {
    const health = app.app.get(LoadStatusHealthIndicator);
    const details = async () => (await health.isHealthy('ls'))['ls'];
    expect(await details()).toMatchObject({ status: 'up', notifications: 'live' });
    // Redis 7 drops a connection subscribed to a channel its user may no longer read.
    await admin.call('ACL', 'SETUSER', user, 'resetchannels');
    await until(
      'the subscription to be refused',
      async () => (await details()).rejected !== undefined,
    );
    // Commands still pass (the ping), the subscription does not: the refusal is the subscriber's.
    expect(await details()).toMatchObject({
      status: 'down',
      reachable: true,
      notifications: 'down',
      rejected: 'NOPERM',
    });
    expect(app.lines.filter((l) => l.level === 'error').map((l) => l.message)).toContainEqual(
      expect.stringMatching(/^Redis rejected the subscription to .*\(NOPERM: /),
    );
    await admin.call('ACL', 'SETUSER', user, `&${prefix}:*`);
  });

  it('gives callers the refusal, not an outage, while the client reconnects with a password Redis no longer takes', async () => {
    const rotated = 'rotated-app';
    const rotatedPrefix = uniquePrefix('rotated');
    await admin.call(
      'ACL',
      'SETUSER',
      rotated,
      'reset',
      'on',
      `>${APP_PASSWORD}`,
      ...aclRule(rotatedPrefix),
    );
    const own = await bootWithLogs({
      redis: `redis://${rotated}:${APP_PASSWORD}@127.0.0.1:${server.port}`,
      keyPrefix: rotatedPrefix,
    });
    try {
      const health = own.app.get(LoadStatusHealthIndicator);
      const details = async () => (await health.isHealthy('ls'))['ls'];
      await admin.call('ACL', 'SETUSER', rotated, 'resetpass', '>rotated-pass-77e1');
      await admin.call('CLIENT', 'KILL', 'USER', rotated); // its clients reconnect with the old one
      await until(
        'the reconnect to be refused',
        async () => (await details()).rejected === 'WRONGPASS',
      );

      const loader = jest.fn(() => Promise.resolve(3));
      const error: unknown = await own.lock.ensureLoaded('u', loader).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LoadStatusRejectedError);
      expect(error).toMatchObject({ reason: 'WRONGPASS' });
      expect(loader).not.toHaveBeenCalled(); // fail-open does not load in-process on a refusal

      // The password back: the client's next reconnect is taken, and so is the next call.
      await admin.call('ACL', 'SETUSER', rotated, 'resetpass', `>${APP_PASSWORD}`);
      await until('a call to be taken again', async () => {
        await own.lock.ensureLoaded('u', loader);
        return true;
      });
      expect(loader).toHaveBeenCalledTimes(1);
      expect(await details()).toMatchObject({ status: 'up' });
    } finally {
      await own.close();
      await admin.call('ACL', 'DELUSER', rotated);
    }
  });
});
