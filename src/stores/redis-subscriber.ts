import type { Logger } from '@nestjs/common';
import { errorText } from '../errors';
import { decodeNotice } from '../keys';
import type { StoreListener } from './load-store';
import { isCluster, quit, type RedisClient } from './redis-client';

/**
 * The one subscriber connection of a Redis store, always created (and closed) by us. It exists
 * from the start, even while Redis is down: ioredis keeps reconnecting it, and every 'ready'
 * (re)subscribes, so a process that boots during an outage gets notifications once Redis is
 * back. After `start` has returned, every successful subscribe tells the listener to re-check:
 * notices may have been missed while it was down.
 */
export class RedisSubscriber {
  private connection: RedisClient | undefined;
  private listener: StoreListener | undefined;
  private subscribed = false;
  private subscribing: Promise<void> | undefined;
  private started = false;
  private closing = false;

  constructor(
    private readonly channel: string,
    private readonly logger: Logger,
  ) {}

  /** True while subscribed on a ready connection: no notice can have been missed. */
  get live(): boolean {
    return this.subscribed && this.connection?.status === 'ready';
  }

  /** Opens the connection (a duplicate of `client`) and resolves once subscribed. */
  async start(client: RedisClient, listener: StoreListener): Promise<void> {
    this.listener = listener;
    const connection: RedisClient = isCluster(client)
      ? client.duplicate()
      : client.duplicate({ lazyConnect: false });
    this.connection = connection;
    connection.on('error', (error: unknown) =>
      this.logger.debug(`redis subscriber error: ${errorText(error)}`),
    );
    connection.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      const notice = decodeNotice(message);
      if (notice) this.listener?.notice(notice);
    });
    connection.on('close', () => {
      this.subscribed = false;
    });
    connection.on('ready', () => {
      this.ensureSubscribed().catch((error: unknown) =>
        this.logger.warn(`subscribe failed: ${errorText(error)}`),
      );
    });
    try {
      await this.ensureSubscribed();
    } finally {
      this.started = true;
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    this.subscribed = false;
    this.listener = undefined;
    const connection = this.connection;
    this.connection = undefined;
    if (connection) await quit(connection);
  }

  /** SUBSCRIBEs unless subscribed (or subscribing) already. */
  private ensureSubscribed(): Promise<void> {
    const connection = this.connection;
    if (!connection || this.closing || this.subscribed) return Promise.resolve();
    this.subscribing ??= (async () => {
      try {
        await connection.subscribe(this.channel);
        if (this.closing) return;
        this.subscribed = true;
        if (this.started) this.listener?.resubscribed();
      } finally {
        this.subscribing = undefined;
      }
    })();
    return this.subscribing;
  }
}
