/**
 * A password in a URL written without a user name (`redis://:secret@host:6379`, the form Redis's
 * default user is given) is kept out of everything the module prints, as one with a user name is:
 * configuration errors that quote an option (no client exists yet, so no secret is registered:
 * only the URL's shape can redact it), errors built from a foreign error (message, cause and
 * stack), the warning a failed background load logs, and, for an app connected with such a URL
 * (the module's own ioredis, or a borrowed node-redis 5 or 6 client), the password itself
 * wherever it shows bare, across an outage (errors, events, health, log lines at every level).
 * Real Redis servers that require the password.
 */
import {
  LoadStatusConfigError,
  LoadStatusEvents,
  LoadStatusHealthIndicator,
  LoadStatusRejectedError,
  LoadStatusUnavailableError,
  type LoadStatusEvent,
} from '../../src';
import { uniquePrefix } from '../support/env';
import { whenEvent } from '../support/events';
import { bootWithLogs, CollectingLogger } from '../support/logged-app';
import { CLIENT_FLAVOURS, createTestRedisClient } from '../support/redis-clients';
import { RedisServer } from '../support/redis-server';
import { until } from '../support/redis-topologies';
import { leaksIn, textOf } from '../support/leaks';

/** The server's `requirepass`: what the apps below connect with. */
const PASSWORD = 'userless-Secret-5e1b';
/** A password the module is never given: another service's, quoted in an error or an option. */
const OTHER = 'other-Secret-9d2c';
const WRONG = 'wrong-Secret-b3f7';
const SECRETS = [PASSWORD, OTHER, WRONG];

/** The secrets `text` holds, and whether it holds a URL with a password still in it. */
const leaks = (text: string): string[] => leaksIn(text, SECRETS);

const userless = (password: string, host = '127.0.0.1:6379') => `redis://:${password}@${host}`;

describe('a userless URL quoted in a configuration error (no client, no registered secret)', () => {
  it.each([
    [
      'an address field beside url',
      { url: 'redis://127.0.0.1:6379', host: userless(OTHER) },
      /yet host is "redis:\/\/:\*\*\*@127\.0\.0\.1:6379"/,
    ],
    [
      'the socket address of node-redis options',
      { url: 'redis://127.0.0.1:6379', socket: { host: userless(OTHER) } },
      /yet socket\.host is "redis:\/\/:\*\*\*@127\.0\.0\.1:6379"/,
    ],
  ])('%s', async (_label, redis, shown) => {
    const error = await bootWithLogs({ redis, keyPrefix: uniquePrefix('redact') }).then(
      () => new Error('expected the boot to fail'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LoadStatusConfigError);
    expect((error as Error).message).toMatch(shown);
    expect(leaks(textOf(error))).toEqual([]);
  });

  it('an option of another kind given a URL by mistake', async () => {
    const error = await bootWithLogs({
      store: 'memory',
      loadedTtlMs: userless(OTHER, 'cache:6379') as unknown as number,
    }).then(
      () => new Error('expected the boot to fail'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LoadStatusConfigError);
    expect((error as Error).message).toContain('got "redis://:***@cache:6379"');
    expect(leaks(textOf(error))).toEqual([]);
  });
});

describe('a userless URL in a foreign error, in the errors built from it', () => {
  const foreign = () => new Error(`connect to ${userless(OTHER, '10.0.0.1:6379')} failed`);
  it.each([
    ['LoadStatusUnavailableError', () => new LoadStatusUnavailableError('acquire', foreign())],
    [
      'LoadStatusRejectedError',
      () => new LoadStatusRejectedError('acquire', 'NOPERM', 'fix the ACL', foreign()),
    ],
  ])('%s: message, cause and stack', (_name, make) => {
    const error = make() as Error & { cause: Error };
    expect(error.message).toContain('connect to redis://:***@10.0.0.1:6379 failed');
    expect(error.cause.message).toBe('connect to redis://:***@10.0.0.1:6379 failed');
    expect(leaks(textOf(error))).toEqual([]);
  });
});

describe('an app connected with a userless URL', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start({ args: () => ['--requirepass', PASSWORD] });
  });
  afterAll(() => server.stop());

  it('fails its boot on a wrong password without printing it (the module creates the client)', async () => {
    const logger = new CollectingLogger();
    const error = await bootWithLogs(
      { redis: userless(WRONG, `127.0.0.1:${server.port}`), keyPrefix: uniquePrefix('redact') },
      logger,
    ).then(
      () => new Error('expected the boot to fail'),
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      name: 'LoadStatusConfigError',
      cause: { name: 'LoadStatusRejectedError', reason: 'WRONGPASS' },
    });
    const everything = [textOf(error), ...logger.lines.map((l) => `${l.message} ${l.rest}`)];
    expect(leaks(everything.join('\n'))).toEqual([]);
  });

  describe.each(CLIENT_FLAVOURS)('on %s', (flavour) => {
    it('keeps its password, and any userless URL, out of log lines, errors, events and health', async () => {
      const logger = new CollectingLogger();
      const client = await createTestRedisClient(
        flavour,
        userless(PASSWORD, `127.0.0.1:${server.port}`),
      );
      const app = await bootWithLogs(
        {
          redis: client.source,
          keyPrefix: uniquePrefix('redact'),
          loadedTtlMs: 10_000,
          refreshAheadMs: 1_000,
          commandTimeoutMs: 300,
        },
        logger,
      ).catch(async (error: unknown) => {
        await client.close();
        throw error;
      });
      const events: LoadStatusEvent[] = [];
      const subscription = app.app.get(LoadStatusEvents).events$.subscribe((e) => events.push(e));
      const health = app.app.get(LoadStatusHealthIndicator);
      const handedOut: unknown[] = [];
      try {
        // A background refresh whose loader fails quoting the module's password bare and another
        // service's userless URL: the warning quotes the error, redacted.
        await app.status.setLoaded('u', 500);
        const refreshFailed = whenEvent(app, (e) => e.type === 'refresh-failed');
        const failing = () => {
          throw new Error(`cache at ${userless(OTHER, 'cache:6379')} refused AUTH ${PASSWORD}`);
        };
        expect(await app.lock.ensureLoaded('u', failing)).toEqual({ status: 'already-loaded' });
        await refreshFailed;
        expect(logger.lines).toContainEqual(
          expect.objectContaining({
            level: 'warn',
            message: expect.stringContaining(
              '(cache at redis://:***@cache:6379 refused AUTH ***)',
            ) as unknown,
          }),
        );

        // An outage and the recovery.
        await server.kill();
        handedOut.push(await health.isHealthy());
        handedOut.push(await app.lock.ensureLoaded('during', () => 'fallback'));
        handedOut.push(await app.status.clearAllLoaded().catch((e: unknown) => e));
        await server.restart();
        await until('the app back on Redis', async () => {
          const result = await health.isHealthy();
          return result['load-status'].status === 'up';
        });
        handedOut.push(await health.isHealthy());
        handedOut.push(await app.lock.ensureLoaded('after', () => 'back'));
      } finally {
        subscription.unsubscribe();
        await app.close();
        await client.close();
      }

      // It all happened: the refresh failed, the module saw the outage and the recovery.
      expect(handedOut[2]).toBeInstanceOf(LoadStatusUnavailableError);
      expect(events.map((e) => e.type)).toEqual(
        expect.arrayContaining(['refresh-failed', 'store-error', 'store-recovered']),
      );
      // A loader's own error is handed back to the app as it threw it (in load-failed and
      // refresh-failed), so those two are not searched.
      const ours = events.filter((e) => e.type !== 'refresh-failed' && e.type !== 'load-failed');
      const everything = [
        ...logger.lines.map((l) => `${l.level} ${l.message} ${l.rest}`),
        ...handedOut.map((v) => textOf(v)),
        ...ours.map((e) => textOf(e)),
      ].join('\n');
      expect(leaks(everything)).toEqual([]);
    });
  });
});
