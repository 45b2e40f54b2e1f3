/**
 * The `redis` option's shapes, at boot and on a real server: `{ url, ...options }` connects to
 * the URL's server (never quietly to localhost:6379), and a shape no client library would read
 * as meant fails the boot with a LoadStatusConfigError naming `redis` and what was wrong.
 */
import { LoadStatusConfigError, type LoadStatusModuleOptions } from '../../src';
import { checkRedisSource } from '../../src/redis-source';
import { startApp } from '../support/apps';
import { uniquePrefix, userKey } from '../support/env';
import { freePort } from '../support/redis-server';
import { suiteRedis } from '../support/suite-redis';

/** Boots an app; the error the boot failed with, or undefined (the app is closed again). */
async function bootError(redis: unknown): Promise<unknown> {
  try {
    const app = await startApp({
      redis: redis as LoadStatusModuleOptions['redis'],
      keyPrefix: uniquePrefix('shape'),
    });
    await app.close();
    return undefined;
  } catch (error) {
    return error;
  }
}

describe('the redis option', () => {
  const redis = suiteRedis();

  it("{ url }: flags land on the URL's server, not on localhost:6379", async () => {
    const keyPrefix = uniquePrefix('url');
    const app = await startApp({ redis: { url: redis.server.url }, keyPrefix });
    try {
      await app.status.setLoaded('u1');
      expect(await redis.inspect.exists(userKey(keyPrefix, 'u1', 'loaded'))).toBe(1);
      expect(await app.status.isLoaded('u1')).toBe(true);
    } finally {
      await app.close();
    }
  });

  describe('a shape no client would read as meant fails the boot', () => {
    // Ports where nothing listens: on the code before the check, each of these booted anyway.
    let port: number;
    let otherPort: number;
    beforeAll(async () => {
      port = await freePort();
      otherPort = await freePort();
    });

    it.each<[string, () => unknown, RegExp]>([
      [
        'a url that is no string',
        () => ({ url: 6390 }),
        /expected url to be a redis:\/\/ .*, got 6390/,
      ],
      [
        'a url of another scheme',
        () => ({ url: `http://127.0.0.1:${port}` }),
        /got a http:\/\/ URL/,
      ],
      ['a url without a scheme', () => ({ url: `127.0.0.1:${port}` }), /got "127\.0\.0\.1:\d+"/],
      ['a url that does not parse', () => ({ url: 'redis://127.0.0.1:99999' }), /does not parse/],
      [
        'a host that contradicts the url',
        () => ({ url: `redis://127.0.0.1:${port}`, host: '127.0.0.2' }),
        /url names the server, yet host is "127\.0\.0\.2" \(the URL's host is "127\.0\.0\.1"\)/,
      ],
      [
        'a port that contradicts the url',
        () => ({ url: `redis://127.0.0.1:${port}`, port: otherPort }),
        /yet port is \d+ \(the URL's port is \d+\)/,
      ],
      [
        'a node-redis socket address that contradicts the url',
        () => ({ url: `redis://127.0.0.1:${port}`, socket: { port: otherPort } }),
        /yet socket\.port is \d+/,
      ],
      [
        'a node-redis socket address without url (ioredis would ignore it)',
        () => ({ socket: { host: '127.0.0.1', port } }),
        /socket\.host is a node-redis option.*give the address as url/,
      ],
      ['an array', () => [`redis://127.0.0.1:${port}`], /got an array/],
      ['a function', () => () => `redis://127.0.0.1:${port}`, /got function/],
      ['a promise', () => new Promise(() => undefined), /got a promise; pass the client itself/],
      ['a URL object', () => new URL(`redis://127.0.0.1:${port}`), /got an instance of URL/],
    ])('%s', async (_label, value, message) => {
      const error = await bootError(value());
      expect(error).toBeInstanceOf(LoadStatusConfigError);
      expect(error).toMatchObject({ option: 'redis' });
      expect((error as Error).message).toMatch(/^Invalid load-status option "redis": /);
      expect((error as Error).message).toMatch(message);
    });

    it('keeps a password out of the message', () => {
      for (const [url, shown] of [
        ['http://:hunter2-shape@127.0.0.1:6379', /got a http:\/\/ URL\.$/],
        [':hunter2-shape@127.0.0.1:6379', /got a string without a scheme\.$/],
      ] as const) {
        let message = '';
        try {
          checkRedisSource({ url });
        } catch (error) {
          message = (error as Error).message;
        }
        expect(message).toMatch(shown);
        expect(message).not.toContain('hunter2');
      }
    });
  });

  it('accepts what agrees with itself: a url with the same host and port, options without url', () => {
    const agreeing = { url: 'redis://LocalHost:6379/2', host: 'localhost', port: '6379' };
    expect(checkRedisSource(agreeing)).toBe(agreeing);
    const ipv6 = { url: 'rediss://[::1]:6390', host: '::1', socket: { port: 6390, tls: true } };
    expect(checkRedisSource(ipv6)).toBe(ipv6);
    const options = Object.assign(Object.create(null) as object, { host: '127.0.0.1', port: 1 });
    expect(checkRedisSource(options)).toBe(options);
    expect(checkRedisSource('rediss://:secret@127.0.0.1:6390')).toBe(
      'rediss://:secret@127.0.0.1:6390',
    );
  });
});
