import type { LoadStatusLogger as Logger } from '../../logger';
import { errorText } from '../../errors';
import { decodeNotice } from '../../keys';
import type { StoreListener } from '../load-store';
import type { NotificationConnection } from './redis-commands';
import { classifyRedisError, type StoreFailure } from './redis-errors';

/**
 * The one notification connection of a Redis store, always created (and closed) by us. It exists
 * from the start, even while Redis is down: the client keeps reconnecting it, and every 'ready'
 * (re)subscribes, so a process that boots during an outage gets notifications once Redis is
 * back. After `start` has returned, every successful subscribe tells the listener to re-check:
 * notices may have been missed while it was down.
 */
export class RedisSubscriber {
  private connection: NotificationConnection | undefined;
  private channels: readonly string[] = [];
  private channelSet = new Set<string>();
  private listener: StoreListener | undefined;
  private subscribed = false;
  private subscribing: Promise<void> | undefined;
  private started = false;
  private closing = false;
  /** Set while the server refuses the subscription (ACL on the channel, credentials). */
  rejection: StoreFailure | undefined;

  constructor(private readonly logger: Logger) {}

  /** True while subscribed on a ready connection: no notice can have been missed. */
  get live(): boolean {
    return this.subscribed && this.connection?.up === true;
  }

  /** Opens `connection`, subscribes to `channels`, and resolves once subscribed. */
  async start(
    connection: NotificationConnection,
    channels: readonly string[],
    listener: StoreListener,
  ): Promise<void> {
    this.listener = listener;
    this.connection = connection;
    this.channels = channels;
    this.channelSet = new Set(channels);
    connection.open({
      message: (channel, message) => {
        if (!this.channelSet.has(channel)) return;
        const notice = decodeNotice(message);
        if (notice) this.listener?.notice(notice);
      },
      ready: () => {
        this.ensureSubscribed().catch((error: unknown) => {
          if (!this.refused(error)) this.logger.warn(`subscribe failed: ${errorText(error)}`);
        });
      },
      down: () => {
        this.subscribed = false;
      },
      error: (error) => {
        if (!this.refused(error)) this.logger.debug(`redis subscriber error: ${errorText(error)}`);
      },
    });
    try {
      await this.ensureSubscribed();
    } finally {
      this.started = true;
    }
  }

  /** Records a refusal (logged once per cause); false for any other error. */
  private refused(error: unknown): boolean {
    const failure = classifyRedisError(error);
    if (failure.kind !== 'rejected') return false;
    if (this.closing) return true;
    // At boot the store's init reports it (and fails the boot); afterwards, the log does.
    if (this.started && this.rejection?.reason !== failure.reason) {
      this.logger.error(
        `Redis rejected the subscription to ${this.channels[0]}${this.channels.length > 1 ? ` and ${this.channels.length - 1} more` : ''} (${failure.reason}: ${errorText(error)}); ${failure.fix}`,
      );
    }
    this.rejection = failure;
    return true;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.subscribed = false;
    this.listener = undefined;
    const connection = this.connection;
    this.connection = undefined;
    await connection?.close();
  }

  /** Subscribes unless subscribed (or subscribing) already. */
  private ensureSubscribed(): Promise<void> {
    const connection = this.connection;
    if (!connection || this.closing || this.subscribed) return Promise.resolve();
    this.subscribing ??= (async () => {
      try {
        await connection.subscribe(this.channels);
        if (this.closing) return;
        this.subscribed = true;
        if (this.rejection) this.logger.log('Redis accepts the subscription again');
        this.rejection = undefined;
        if (this.started) this.listener?.resubscribed();
      } finally {
        this.subscribing = undefined;
      }
    })();
    return this.subscribing;
  }
}
