import { encodeNotice, type NoticeKind, type UserKeys } from '../../keys';
import type { LoadStatusLogger } from '../../logger';
import type { NoticePath } from '../load-store';
import type { RedisCommands } from './redis-commands';

/**
 * Where a Redis store's notices go: on the one channel (classic pub/sub), or, on a Cluster whose
 * server and client can carry them, on the channel of the user's group in its shard (SPUBLISH).
 * Classic until {@link RedisNoticeRoute.choose} decides, at boot.
 */
export class RedisNoticeRoute {
  private shardLocal = false;
  private chosen: NoticePath = { mode: 'classic' };

  constructor(
    private readonly redis: RedisCommands,
    private readonly channel: string,
    private readonly shardChannels: readonly string[],
    private readonly logger: LoadStatusLogger,
  ) {}

  /** Shard-local notices (SPUBLISH on the user's group channel). */
  get sharded(): boolean {
    return this.shardLocal;
  }

  get path(): NoticePath {
    return this.chosen;
  }

  /** The channels notices arrive on. */
  get channels(): readonly string[] {
    return this.shardLocal ? this.shardChannels : [this.channel];
  }

  /**
   * Shard-local notices on a Cluster whose server (Redis 7) and client can carry them; classic
   * pub/sub otherwise, with the reason in the log and the health details.
   */
  async choose(): Promise<void> {
    if (this.redis.topology !== 'cluster') return;
    const clientLacks = this.redis.shardedNoticesUnsupported;
    const serverLacks =
      clientLacks === undefined && !(await this.redis.serverHas('SPUBLISH'))
        ? 'the server has no sharded pub/sub (Redis 7 or later has)'
        : undefined;
    const reason = clientLacks ?? serverLacks;
    this.shardLocal = reason === undefined;
    this.chosen = reason === undefined ? { mode: 'sharded' } : { mode: 'classic', reason };
    if (reason === undefined) this.logger.debug('Cluster: notices are shard-local (SPUBLISH)');
    else this.logger.warn(`Cluster: notices use classic pub/sub across the cluster bus: ${reason}`);
  }

  /** The script arguments of a notice for `user`: channel, message, publish command. */
  forUser(user: UserKeys, kind: NoticeKind, holder?: string): [string, string, string] {
    const message = encodeNotice(kind, user.tag, holder);
    return this.shardLocal
      ? [user.shardChannel, message, 'SPUBLISH']
      : [this.channel, message, 'PUBLISH'];
  }

  /** The script arguments of `message` on the first channel a notice can go on (the probe's). */
  first(message: string): [string, string, string] {
    return this.shardLocal
      ? [this.shardChannels[0], message, 'SPUBLISH']
      : [this.channel, message, 'PUBLISH'];
  }

  /**
   * The script arguments of `message` for the notice group `group`: its shard's channel, or none
   * when classic (then {@link afterGroups} tells everyone once).
   */
  forGroup(group: number, message: string): [string, string, string] {
    return this.shardLocal ? [this.shardChannels[group], message, 'SPUBLISH'] : ['', '', ''];
  }

  /** After every group's script ran: classic pub/sub tells every process once. */
  async afterGroups(message: string): Promise<void> {
    if (!this.shardLocal) await this.redis.publish(this.channel, message, false);
  }

  /** Publishes a notice for `user` without a script. */
  async publish(kind: NoticeKind, user: UserKeys): Promise<void> {
    const [channel, message] = this.forUser(user, kind);
    await this.redis.publish(channel, message, this.shardLocal);
  }

  /** `message` to every process: on each group's shard channel, or on the one channel. */
  async toAll(message: string): Promise<void> {
    if (!this.shardLocal) return this.redis.publish(this.channel, message, false);
    await Promise.all(
      this.shardChannels.map((channel) => this.redis.publish(channel, message, true)),
    );
  }
}
