/**
 * The notification connection over node-redis: a subscribed duplicate of the client (or, on a v5
 * Sentinel, which has no duplicate, the client's own pub/sub connection).
 */
import type { NotificationConnection, NotificationHandlers } from './redis-commands';
import {
  closeClient,
  isUp,
  kindOf,
  RAW,
  type EventListener,
  type Listener,
  type NodeRedisCluster,
  type NodeRedisSentinel,
  type NodeRedisStandalone,
} from './node-redis-client';

/**
 * Notifications on a node-redis connection. node-redis restores subscriptions by itself after a
 * reconnect (and a Sentinel moves them to the new master), so a repeated `subscribe` only syncs:
 * a PING on the same connection answers after the restored subscriptions were confirmed.
 */
export class NodeRedisNotifications implements NotificationConnection {
  private readonly channels = new Set<string>();
  private readonly listeners: Array<[string, EventListener]> = [];
  private readonly listener: Listener;
  private handlers: NotificationHandlers | undefined;
  /** Settles once a duplicate we opened first connected (a cluster cannot subscribe before). */
  private connected: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly connection: NodeRedisStandalone | NodeRedisCluster | NodeRedisSentinel,
    /** True for a duplicate we created (connected and closed here); false for a borrowed one. */
    private readonly ownsConnection: boolean,
    /** SSUBSCRIBE (a cluster routes each channel to its shard) instead of SUBSCRIBE. */
    private readonly sharded: boolean,
  ) {
    this.listener = (message, channel) => this.handlers?.message(channel, message);
  }

  get up(): boolean {
    return isUp(this.connection);
  }

  open(handlers: NotificationHandlers): void {
    this.handlers = handlers;
    const on = (event: string, listener: EventListener): void => {
      this.connection.on(event, listener);
      this.listeners.push([event, listener]);
    };
    on('error', (error: unknown) => handlers.error(error));
    on('ready', () => handlers.ready());
    on('reconnecting', () => handlers.down());
    on('end', () => handlers.down());
    // A Sentinel failover moves the subscription to the new master: notices may have been
    // missed in between.
    on('topology-change', (event: { type?: string }) => {
      if (event?.type !== 'MASTER_CHANGE') return;
      handlers.down();
      handlers.ready();
    });
    if (this.ownsConnection) {
      // Never settles while Redis is unreachable (it retries); errors arrive on 'error'.
      this.connected = this.connection.connect();
      this.connected.catch((error: unknown) => handlers.error(error));
    }
  }

  async subscribe(channels: readonly string[]): Promise<void> {
    await this.connected;
    const fresh = channels.filter((c) => !this.channels.has(c));
    if (fresh.length === 0) {
      await this.sync();
      return;
    }
    const c = this.connection;
    await Promise.all(
      // One call per channel: channels of different slots cannot share one SSUBSCRIBE.
      fresh.map((channel) =>
        this.sharded ? c.sSubscribe!(channel, this.listener) : c.subscribe(channel, this.listener),
      ),
    );
    for (const channel of fresh) this.channels.add(channel);
  }

  async close(): Promise<void> {
    for (const [event, listener] of this.listeners) this.connection.off(event, listener);
    this.listeners.length = 0;
    this.handlers = undefined;
    if (this.ownsConnection) {
      await closeClient(this.connection);
      return;
    }
    await Promise.all(
      [...this.channels].map((channel) =>
        (this.sharded
          ? this.connection.sUnsubscribe!(channel, this.listener)
          : this.connection.unsubscribe(channel, this.listener)
        ).catch(() => undefined),
      ),
    );
  }

  /**
   * A standalone connection carries its subscriptions itself, so a PING orders us after them. A
   * cluster or sentinel keeps them on an internal pub/sub connection no command reaches.
   */
  private async sync(): Promise<void> {
    const of = kindOf(this.connection);
    if (of?.kind === 'standalone') await of.client.sendCommand(['PING'], RAW);
  }
}
