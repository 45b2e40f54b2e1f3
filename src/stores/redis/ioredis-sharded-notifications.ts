/**
 * Shard-local notices over an ioredis Cluster: the sharded subscriber connection, and the timers
 * of ours that its slot refreshes and its shard subscribers' retries run on, cleared at close.
 */
import { EventEmitter } from 'node:events';
import type { NotificationConnection, NotificationHandlers } from './redis-commands';
import { quit, type IoRedisLike } from './ioredis-client';
import { relayEvents } from './ioredis-notifications';

/**
 * Shard-local notices on a Cluster: a duplicate with `shardedSubscribers`, which keeps one
 * subscriber connection per master and moves a shard's subscriptions when its master changes
 * ('-subscriber' while it does, 'subscribersReady' once every shard is subscribed again).
 */
export class IoRedisShardedNotifications implements NotificationConnection {
  private connection: IoRedisLike | undefined;
  private shardLost = false;
  private slotsTimer: NodeJS.Timeout | undefined;
  private retries: ShardRetryTimers | undefined;

  constructor(private readonly source: IoRedisLike) {}

  get up(): boolean {
    return this.connection?.status === 'ready' && !this.shardLost;
  }

  open(handlers: NotificationHandlers): void {
    // ioredis 5 notices a graceful failover only when it refreshes its slots: every 2 s unless the
    // app's Cluster says otherwise. The timer is ours: ioredis's own (`slotsRefreshInterval`)
    // re-arms itself when a refresh in flight at quit() ends, and then keeps the process alive.
    const options = this.source.options as {
      slotsRefreshInterval?: number;
      redisOptions?: object;
    };
    const every = options.slotsRefreshInterval ?? 2_000;
    const connection = this.source.duplicate([], {
      shardedSubscribers: true,
      slotsRefreshInterval: 0,
      // Merged here: some ioredis versions replace the app's redisOptions with a duplicate's.
      redisOptions: {
        ...options.redisOptions,
        disconnectTimeout: SUBSCRIBER_DISCONNECT_TIMEOUT_MS,
      },
    });
    this.connection = connection;
    this.retries = new ShardRetryTimers(connection);
    if (every > 0) this.slotsTimer = setInterval(() => connection.refreshSlotsCache?.(), every);
    relayEvents(connection, handlers, 'smessage');
    connection.on('-subscriber', () => {
      this.shardLost = true;
      handlers.down();
    });
    connection.on('subscribersReady', () => {
      this.shardLost = false;
      handlers.ready();
    });
  }

  async subscribe(channels: readonly string[]): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    // One SSUBSCRIBE per channel: channels of different slots cannot share one.
    await Promise.all(channels.map((channel) => connection.ssubscribe!(channel)));
  }

  async close(): Promise<void> {
    clearInterval(this.slotsTimer);
    this.retries?.stop();
    const connection = this.connection;
    this.connection = undefined;
    if (connection) await quit(connection);
  }
}

/**
 * How long a connection of our sharded Cluster connection that ioredis drops may take to close
 * before it is destroyed (ioredis's `disconnectTimeout`, default 2 s). ioredis arms that timer
 * even for a connection that is closed already, which then never clears it: each shard
 * subscriber that failed to connect (a failover makes hundreds, see {@link ShardRetryTimers}),
 * and each slot refresh that could not reach a node, kept a closed app's process alive for 2 s
 * more. A live server closes its end within a millisecond.
 */
const SUBSCRIBER_DISCONNECT_TIMEOUT_MS = 100;

/** The event of ioredis's sharded subscriber group that schedules a retry (ioredis 5.9 to 6). */
const SUBSCRIBER_CONNECT_FAILED = 'subscriberConnectFailed';

/**
 * The retries of a sharded Cluster connection's failed shard subscribers, on timers of ours.
 *
 * ioredis (5.9 to 6.0 at least) answers a shard subscriber that failed to connect with a slot
 * refresh `delay` ms later (200 ms doubling to 2 s, ±25 %), on a timer that neither quit() nor
 * disconnect() clears. While a master is down, every refresh starts a new subscriber to it that
 * fails at once (about a hundred a second), so a process that closed its app during a failover
 * or just after one stayed alive for up to 2.5 s more: most of a chaos worker's 3 s grace.
 *
 * So the group's listener is moved here: it runs, unchanged, when our timer of the same delay
 * fires (told `delay: 0`: its own timer then fires at once), and `stop` clears ours. The
 * emitter is private (`subscriberGroupEmitter`); on any other shape (ioredis 5.6 to 5.8 has
 * none) nothing is moved, and closing after a failover is only slower, as before.
 */
class ShardRetryTimers {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(connection: IoRedisLike) {
    const group = (connection as { subscriberGroupEmitter?: unknown }).subscriberGroupEmitter;
    if (!(group instanceof EventEmitter)) return;
    const listeners = group.listeners(SUBSCRIBER_CONNECT_FAILED);
    if (listeners.length !== 1) return;
    const [retry] = listeners as Array<(event: unknown) => void>;
    group.off(SUBSCRIBER_CONNECT_FAILED, retry);
    group.on(SUBSCRIBER_CONNECT_FAILED, (event: unknown) => {
      if (this.stopped) return;
      const delay = (event as { delay?: unknown } | null)?.delay;
      if (typeof delay !== 'number') {
        retry(event);
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        retry({ ...(event as object), delay: 0 });
      }, delay);
      this.timers.add(timer);
    });
  }

  /** Clears the pending retries; later failures (the connection is closing) retry nothing. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
