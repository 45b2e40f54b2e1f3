/**
 * The classic notification connection over ioredis (a subscribed duplicate of the client), and
 * the wiring of a subscriber connection's events that the sharded one shares.
 */
import type { NotificationConnection, NotificationHandlers } from './redis-commands';
import { isIoCluster, quit, type IoRedisLike } from './ioredis-client';

/** A duplicate of the client, subscribed; ioredis reconnects it and restores its subscriptions. */
export class IoRedisNotifications implements NotificationConnection {
  private connection: IoRedisLike | undefined;

  constructor(private readonly source: IoRedisLike) {}

  get up(): boolean {
    return this.connection?.status === 'ready';
  }

  open(handlers: NotificationHandlers): void {
    // Not ioredis's own re-subscribe on reconnect: the subscriber re-subscribes at every 'ready'
    // itself, and ioredis's is a promise nobody handles, so a connection closed while it waits
    // (an app shutting down as Redis comes back) rejects it unhandled, which by Node's default
    // ends the process. A Cluster's subscriber handles its own.
    const connection = isIoCluster(this.source)
      ? this.source.duplicate()
      : this.source.duplicate({ lazyConnect: false, autoResubscribe: false });
    this.connection = connection;
    relayEvents(connection, handlers, 'message');
  }

  async subscribe(channels: readonly string[]): Promise<void> {
    // SUBSCRIBE is idempotent on the server, and its reply comes after every restored one.
    await this.connection?.subscribe(...channels);
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    if (connection) await quit(connection);
  }
}

/**
 * Tells `handlers` what a subscriber connection says: its errors, the messages it emits as
 * `messageEvent`, and when it drops ('close') and is ready again.
 */
export function relayEvents(
  connection: IoRedisLike,
  handlers: NotificationHandlers,
  messageEvent: 'message' | 'smessage',
): void {
  connection.on('error', (error: unknown) => handlers.error(error));
  connection.on(messageEvent, (channel: string, message: string) =>
    handlers.message(channel, message),
  );
  connection.on('close', () => handlers.down());
  connection.on('ready', () => handlers.ready());
}
