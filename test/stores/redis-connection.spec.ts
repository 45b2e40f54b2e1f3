/**
 * What `redis` becomes (redisCommandsFor), on a real server: a URL or ioredis options give a
 * client the store owns (lazy, one retry per command, reconnects at most 500 ms apart, the
 * caller's options winning), closed with the store; a lent client is used as it is and never
 * closed; a node-redis pool or an object that is no client is refused with the option named.
 */
import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import { createClient, createClientPool } from 'redis';
import { LoadStatusConfigError } from '../../src/errors';
import type { RedisSource } from '../../src/redis-source';
import { redisCommandsFor } from '../../src/stores/redis/redis-connection';
import { suiteRedis } from '../support/suite-redis';

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
});
