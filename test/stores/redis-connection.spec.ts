/**
 * What `redis` becomes (redisCommandsFor), on a real server: a URL, `{ url, ...options }` or
 * ioredis options give a client the store owns (lazy, one retry per command, reconnects at most
 * 500 ms apart, the caller's options winning), closed with the store — with ioredis, or with
 * node-redis (5 and 6) where ioredis is not installed (no offline queue, the same reconnect
 * delays); a lent client is used as it is and never closed; a node-redis pool or an object that
 * is no client is refused with the option named.
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import { createClient, createClientPool } from 'redis';
import { LoadStatusConfigError } from '../../src/errors';
import type { RedisSource } from '../../src/redis-source';
import {
  redisCommandsFor,
  redisCommandsWith,
  type ClientLibraries,
  type NodeRedisModule,
} from '../../src/stores/redis/redis-connection';
import type { RedisCommands } from '../../src/stores/redis/redis-commands';
import { REDIS_SCRIPTS } from '../../src/stores/redis/redis-scripts';
import { sleep } from '../support/clock';
import { NODE_REDIS_FLAVOURS } from '../support/redis-clients';
import { RedisServer } from '../support/redis-server';
import { suiteRedis } from '../support/suite-redis';

/** A key's value read through the store's commands (a script that GETs its one key). */
const readKey = (commands: RedisCommands, key: string): Promise<unknown> =>
  commands.evalScript(REDIS_SCRIPTS.loadNames, [key], []);

/** The ioredis client an adapter drives (private: what the store created from the option). */
const clientOf = (commands: object) => (commands as unknown as { client: Redis }).client;

/** Resolves when the connection has ended (QUIT is answered before the socket closes). */
const ended = (client: Redis) =>
  new Promise<void>((resolve) =>
    client.status === 'end' ? resolve() : client.once('end', resolve),
  );

describe('redisCommandsFor', () => {
  const redis = suiteRedis();
  let logger: Logger;
  let debug: jest.SpyInstance;
  beforeEach(() => {
    logger = new Logger('LoadStatus');
    debug = jest.spyOn(logger, 'debug').mockImplementation(() => undefined);
  });

  it('a URL: an ioredis client of its own, lazy, one retry per command, reconnects ≤ 500 ms apart', async () => {
    const commands = redisCommandsFor(redis.server.url, logger);
    expect(commands).toMatchObject({ library: 'ioredis', topology: 'standalone' });
    const client = clientOf(commands);
    expect(client.status).toBe('wait'); // nothing sent before the store connects
    expect(client.options).toMatchObject({ maxRetriesPerRequest: 1, lazyConnect: true });
    const retry = client.options.retryStrategy!;
    expect([1, 2, 9, 10, 11, 100].map((times) => retry(times))).toEqual([
      50, 100, 450, 500, 500, 500,
    ]);
    await commands.connect();
    await commands.ping();
    await commands.close();
    await ended(client);
  });

  it("{ url, ...options }: connects to the URL's server (not localhost:6379), options kept", async () => {
    // The key exists only on this suite's server: a client anywhere else reads nothing.
    const key = `probe:${randomUUID()}`;
    await redis.inspect.set(key, '1', 'PX', 60_000);
    const commands = redisCommandsFor(
      { url: redis.server.url, connectionName: 'ls-url-probe', maxRetriesPerRequest: 2 },
      logger,
    );
    const client = clientOf(commands);
    expect(client.options).toMatchObject({
      host: '127.0.0.1',
      port: redis.server.port,
      connectionName: 'ls-url-probe',
      maxRetriesPerRequest: 2,
      lazyConnect: true,
    });
    expect(client.options.retryStrategy!(100)).toBe(500);
    await commands.connect();
    expect(await readKey(commands, key)).toBe('1');
    expect(await redis.inspect.call('CLIENT', 'LIST')).toContain('name=ls-url-probe');
    await commands.close();
    await ended(client);
  });

  it("ioredis options: the caller's win over the store's", async () => {
    const commands = redisCommandsFor(
      { host: '127.0.0.1', port: redis.server.port, maxRetriesPerRequest: 3, lazyConnect: false },
      logger,
    );
    const client = clientOf(commands);
    expect(client.options).toMatchObject({ maxRetriesPerRequest: 3, lazyConnect: false });
    // The store's own are kept where the caller set none.
    expect(client.options.retryStrategy!(100)).toBe(500);
    await commands.connect();
    await commands.ping();
    await commands.close();
    await ended(client);
  });

  it("logs its own client's connection errors at debug, with the password redacted", async () => {
    const closed = `redis://:hunter2-conn@127.0.0.1:1`; // nothing listens on port 1
    const commands = redisCommandsFor(closed, logger);
    const client = clientOf(commands);
    const failed = new Promise((resolve) => client.once('error', resolve));
    client.connect().catch(() => undefined);
    await failed;
    expect(debug).toHaveBeenCalledWith(
      expect.stringMatching(/^redis client error: .*ECONNREFUSED/),
    );
    await commands.close();
  });

  it('a lent ioredis client: used as it is, never closed by the store', async () => {
    const lent = new Redis(redis.server.url);
    try {
      const commands = redisCommandsFor(lent, logger);
      expect(clientOf(commands)).toBe(lent);
      await commands.connect();
      await commands.close();
      expect(lent.status).toBe('ready');
      await expect(lent.ping()).resolves.toBe('PONG');
    } finally {
      await lent.quit();
    }
  });

  it('a lent node-redis client: used, never closed; a pool or an unopened client refused', async () => {
    const client = createClient({ url: redis.server.url });
    await client.connect();
    try {
      const commands = redisCommandsFor(client, logger);
      expect(commands.library).toBe('node-redis');
      await commands.ping();
      await commands.close();
      expect(client.isOpen).toBe(true);
    } finally {
      client.destroy();
    }
    const pool = createClientPool({ url: redis.server.url });
    expect(() => redisCommandsFor(pool as unknown as RedisSource, logger)).toThrow(
      new LoadStatusConfigError(
        'redis',
        'a node-redis client pool cannot run a script and what follows it on one connection; pass createClient(), createCluster() or createSentinel()',
      ),
    );
    const unopened = createClient({ url: redis.server.url });
    expect(() => redisCommandsFor(unopened as unknown as RedisSource, logger)).toThrow(
      /the node-redis client is not connected; call await client\.connect\(\) before passing it/,
    );
  });

  describe.each(NODE_REDIS_FLAVOURS)('where ioredis is not installed, with %s', (flavour) => {
    const nodeRedisOnly: ClientLibraries = {
      ioredis: () => undefined,
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      nodeRedis: () => require(flavour === 'node-redis-5' ? 'redis5' : 'redis') as NodeRedisModule,
    };

    it('a URL: a node-redis client of its own, no offline queue, reconnects ≤ 500 ms apart', async () => {
      const commands = redisCommandsWith(redis.server.url, logger, nodeRedisOnly);
      expect(commands).toMatchObject({ library: 'node-redis', topology: 'standalone' });
      const client = nodeClientOf(commands);
      expect(client.isOpen).toBe(false); // nothing sent before the store connects
      expect(client.options).toMatchObject({ disableOfflineQueue: true });
      const retry = client.options.socket.reconnectStrategy;
      // node-redis counts retries from 0; the delays are ioredis' 1st, 2nd, … attempts'.
      expect([0, 1, 8, 9, 10, 99].map((retries) => retry(retries, new Error('down')))).toEqual([
        50, 100, 450, 500, 500, 500,
      ]);
      await commands.connect();
      await commands.ping();
      await commands.close();
      expect(client.isOpen).toBe(false);
    });

    it("{ url, ...options }: the URL's server, node-redis options beside it, the caller's winning", async () => {
      const key = `probe:${randomUUID()}`;
      await redis.inspect.set(key, '1', 'PX', 60_000);
      const name = `ls-url-probe-${flavour}`;
      const commands = redisCommandsWith(
        {
          url: redis.server.url,
          name,
          disableOfflineQueue: false,
          socket: { connectTimeout: 1234 },
        },
        logger,
        nodeRedisOnly,
      );
      const client = nodeClientOf(commands);
      expect(client.options).toMatchObject({
        disableOfflineQueue: false,
        socket: { host: '127.0.0.1', port: redis.server.port, connectTimeout: 1234 },
      });
      // The store's own are kept where the caller set none.
      expect(client.options.socket.reconnectStrategy(99, new Error('down'))).toBe(500);
      await commands.connect();
      expect(await readKey(commands, key)).toBe('1');
      expect(await redis.inspect.call('CLIENT', 'LIST')).toContain(`name=${name}`);
      await commands.close();
    });

    it('when the server dies: commands fail at once, retries ≥ 8 in a 3 s outage, back by itself', async () => {
      const server = await RedisServer.start();
      const commands = redisCommandsWith(server.url, logger, nodeRedisOnly);
      try {
        const client = nodeClientOf(commands);
        await commands.connect();
        const events: string[] = [];
        for (const event of ['error', 'reconnecting', 'ready']) {
          client.on(event, () => events.push(event));
        }
        await server.kill();
        await sleep(3_000);
        // Sent while down: rejected now, not queued until the server is back.
        const sent = commands.ping().then(
          () => 'answered',
          (error: Error) => error.constructor.name,
        );
        expect(await Promise.race([sent, sleep(1_000).then(() => 'still queued')])).toBe(
          'ClientOfflineError',
        );
        // At most 500 ms apart, 3 s hold at least 8 attempts; node-redis' own backoff
        // (doubling from 50 ms to 2 s, plus up to 200 ms of jitter) makes at most 6.
        const attempts = events.filter((e) => e === 'reconnecting').length;
        expect(attempts).toBeGreaterThanOrEqual(8);
        await server.restart();
        await (client.isReady ? Promise.resolve() : once(client, 'ready'));
        await commands.ping();
        expect(events.indexOf('ready')).toBeGreaterThan(events.lastIndexOf('error'));
      } finally {
        await commands.close();
        await server.stop();
      }
    });
  });
});

/** What a node-redis client shows of itself (the store's private adapter holds it). */
interface NodeRedisClientView {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  readonly options: {
    disableOfflineQueue?: boolean;
    socket: {
      reconnectStrategy: (retries: number, cause: Error) => unknown;
      [key: string]: unknown;
    };
  };
  on(event: string, listener: () => void): unknown;
  once(event: string, listener: () => void): unknown;
}

const nodeClientOf = (commands: RedisCommands) =>
  (commands as unknown as { target: { client: NodeRedisClientView } }).target.client;

const once = (client: NodeRedisClientView, event: string) =>
  new Promise<void>((resolve) => client.once(event, resolve));
