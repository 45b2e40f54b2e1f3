import { ALL_USERS_TAG, encodeNotice, NoticeKind, type KeyBuilder } from '../../keys';
import type { RedisNoticeRoute } from './notice-route';
import type { RedisCommands } from './redis-commands';
import { REDIS_SCRIPTS as S } from './redis-scripts';

/**
 * A Redis store's registry of load names (one per prefix, at `loadsKey`: what "every load of a
 * key" means across processes), and the clear of one load for every key: a SCAN for its flags.
 */
export class RedisLoadRegistry {
  constructor(
    private readonly redis: RedisCommands,
    private readonly keys: Pick<KeyBuilder, 'loadsKey' | 'loadFlagsPattern'>,
    private readonly route: RedisNoticeRoute,
  ) {}

  /** Adds `name` (idempotent); names are kept URI-encoded, one a line. */
  async register(name: string): Promise<void> {
    await this.redis.evalScript(S.registerLoad, [this.keys.loadsKey], [encodeURIComponent(name)]);
  }

  /** The registered names, in the order they were first registered. */
  async names(): Promise<string[]> {
    const names = await this.redis.evalScript(S.loadNames, [this.keys.loadsKey], []);
    return String(names)
      .split('\n')
      .filter((encoded) => encoded !== '')
      .map((encoded) => decodeURIComponent(encoded));
  }

  /** SCANs (every master of a Cluster) for the load's flags, UNLINKs them, and tells everyone. */
  async clear(name: string): Promise<void> {
    await this.redis.unlinkMatching(this.keys.loadFlagsPattern(name));
    await this.route.toAll(encodeNotice(NoticeKind.ClearedAll, ALL_USERS_TAG));
  }
}
