import { Logger } from '@nestjs/common';
import { encodeNotice, NoticeKind, type KeyBuilder } from '../../keys';
import { registerSecret } from '../../redaction';
import type { RedisSource } from '../../redis-source';
import { ConnectionWatch } from './connection-watch';
import type { StoreFailure } from './redis-errors';
import type { AcquireResult, LoadStore, StoreListener, StoreUser } from '../load-store';
import type { RedisCommands } from './redis-commands';
import { redisCommandsFor } from './redis-connection';
import { FENCE_RETENTION_MS, REDIS_SCRIPTS as S } from './redis-scripts';
import { RedisSubscriber } from './redis-subscriber';

/**
 * Redis adapter. Commands go through the (owned or borrowed) client, whichever library made it
 * (see {@link RedisCommands}); notifications arrive on one subscriber connection per store,
 * always created (and closed) by us.
 */
export class RedisLoadStore implements LoadStore {
  readonly kind = 'redis' as const;
  /** Failures surface as errors; `GuardedLoadStore` tracks degradation. */
  readonly isDegraded = false;
  private readonly redis: RedisCommands;
  private readonly logger = new Logger('LoadStatus');
  private readonly subscriber: RedisSubscriber;
  private readonly watch: ConnectionWatch;
  private readonly forgetSecrets: Array<() => void>;
  private readonly channel: string;
  /** SCAN pattern of every key this store writes, for `reset()`. */
  private readonly keyPattern: string;
  private readonly probeKey: string;

  constructor(source: RedisSource, keys: Pick<KeyBuilder, 'channel' | 'pattern' | 'probeKey'>) {
    this.redis = redisCommandsFor(source, this.logger);
    // Before anything can be logged: no password leaves the module.
    this.forgetSecrets = this.redis.secrets.map(registerSecret);
    this.watch = new ConnectionWatch(this.redis.connectionEvents);
    this.channel = keys.channel;
    this.keyPattern = keys.pattern;
    this.probeKey = keys.probeKey;
    this.subscriber = new RedisSubscriber(keys.channel, this.logger);
  }

  get notificationsLive(): boolean {
    return this.subscriber.live;
  }

  get rejection(): StoreFailure | undefined {
    return this.watch.lastRejection?.failure ?? this.subscriber.rejection;
  }

  bootRejection(): StoreFailure | undefined {
    return this.watch.bootRejection() ?? this.subscriber.rejection;
  }

  /**
   * Connects, subscribes and probes what the flow needs, so a refusal (credentials, ACL, TLS)
   * is found now and not by the first user; rejects at once when the server refuses.
   */
  async init(listener: StoreListener): Promise<void> {
    // The subscriber is created first, so it keeps trying even if Redis is down right now.
    const subscribed = this.subscriber.start(this.redis.notifications(), listener);
    subscribed.catch(() => undefined); // awaited below; rejections are reported there
    const refused = this.watch.rejected;
    // A borrowed client still connecting is waited for (bounded by the caller), so the first
    // commands are not failed fast as if Redis were down.
    await Promise.race([this.redis.connect(), refused]);
    await Promise.race([subscribed, refused]);
    await this.probe();
  }

  /** Auth, every script (loaded, and every command they run), and publishing on the channel. */
  private async probe(): Promise<void> {
    this.assertConnected();
    await this.redis.ping();
    await this.redis.loadScripts(Object.values(S));
    await this.redis.evalScript(S.probe, [this.probeKey], [this.channel, 'P:%probe']);
  }

  async flagTtl(user: StoreUser, watchMs?: number): Promise<number | undefined> {
    this.assertConnected();
    const pttl =
      watchMs === undefined
        ? await this.redis.pttl(user.loaded)
        : await this.redis.evalScript(S.watch, [user.loaded, user.waiting], [String(watchMs)]);
    return ttlFromPttl(pttl);
  }

  async setLoaded(user: StoreUser, ttlMs: number): Promise<void> {
    this.assertConnected();
    await this.redis.evalScript(
      S.setLoaded,
      [user.loaded, user.waiting],
      [String(ttlMs), this.channel, encodeNotice(NoticeKind.Loaded, user.tag)],
    );
  }

  async clearLoaded(user: StoreUser): Promise<void> {
    this.assertConnected();
    await this.redis.evalScript(
      S.clear,
      [user.loaded],
      [this.channel, encodeNotice(NoticeKind.Cleared, user.tag)],
    );
  }

  async acquire(
    user: StoreUser,
    token: string,
    ttlMs: number,
    checkFlag: boolean,
  ): Promise<AcquireResult> {
    this.assertConnected();
    const [state, value, lineage] = (await this.redis.evalScript(
      S.acquire,
      [user.loaded, user.lock, user.fence, user.waiting],
      [token, String(ttlMs), FENCE_RETENTION_S, checkFlag ? '1' : '0'],
    )) as [number | string, number | string, string | undefined];
    // Number(): a borrowed client may use `stringNumbers`, which turns every integer into a string.
    const code = Number(state);
    if (code === 2) return { state: 'loaded', remainingMs: ttlFromPttl(value) ?? 0 };
    if (code === 1) {
      return { state: 'acquired', fencingToken: Number(value), incarnation: `redis:${lineage}` };
    }
    // PTTL is -1 only for a lock someone set by hand without expiry: wait a full lease then.
    return { state: 'held', remainingMs: Number(value) >= 0 ? Number(value) : ttlMs };
  }

  async extend(user: StoreUser, token: string, ttlMs: number): Promise<boolean> {
    this.assertConnected();
    return Number(await this.redis.evalScript(S.extend, [user.lock], [token, String(ttlMs)])) === 1;
  }

  async release(user: StoreUser, token: string): Promise<boolean> {
    this.assertConnected();
    const owned = await this.redis.evalScript(
      S.release,
      [user.lock, user.waiting],
      [token, this.channel, encodeNotice(NoticeKind.Released, user.tag)],
    );
    return Number(owned) === 1;
  }

  async finish(user: StoreUser, token: string, loadedTtlMs: number): Promise<boolean> {
    this.assertConnected();
    const owned = await this.redis.evalScript(
      S.finish,
      [user.loaded, user.lock, user.waiting],
      [token, String(loadedTtlMs), this.channel, encodeNotice(NoticeKind.Loaded, user.tag)],
    );
    return Number(owned) === 1;
  }

  async finishLock(user: StoreUser, token: string): Promise<boolean> {
    this.assertConnected();
    const owned = await this.redis.evalScript(
      S.finishLock,
      [user.lock, user.waiting],
      [token, this.channel, encodeNotice(NoticeKind.Loaded, user.tag)],
    );
    return Number(owned) === 1;
  }

  async publish(kind: NoticeKind, user: StoreUser): Promise<void> {
    this.assertConnected();
    await this.redis.publish(this.channel, encodeNotice(kind, user.tag));
  }

  /** SCANs (every master of a Cluster) for this prefix's keys and UNLINKs what it finds. */
  async reset(): Promise<void> {
    this.assertConnected();
    await this.redis.unlinkMatching(this.keyPattern);
  }

  async ping(): Promise<void> {
    this.assertConnected();
    await this.redis.ping();
  }

  async close(): Promise<void> {
    await Promise.all([this.subscriber.close(), this.redis.close()]);
    this.watch.dispose();
    for (const forget of this.forgetSecrets) forget();
  }

  /**
   * Fails at once while the connection is down instead of letting the client queue the command
   * until it reconnects: callers get the store-error policy now, not after a timeout — or, if
   * the client keeps reconnecting because the server refuses it, that refusal. A client that
   * never connected yet (ioredis `lazyConnect`) connects on its first command as usual.
   */
  private assertConnected(): void {
    if (this.redis.writable) return;
    const refused = this.watch.lastRejection;
    if (refused) throw refused.error;
    throw new Error('Redis connection is not ready');
  }
}

/** The fencing counter's retention, as the acquire script takes it. */
const FENCE_RETENTION_S = String(FENCE_RETENTION_MS);

/** PTTL's reply as a remaining lifetime: -2 (no key) is undefined, -1 (no expiry) is "forever". */
function ttlFromPttl(reply: unknown): number | undefined {
  const pttl = Number(reply);
  if (pttl === -2) return undefined;
  return pttl === -1 ? Number.MAX_SAFE_INTEGER : pttl;
}
