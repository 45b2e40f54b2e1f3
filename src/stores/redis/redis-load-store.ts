import { nestLogger, type LoadStatusLogger } from '../../logger';
import {
  ALL_USERS_TAG,
  encodeNotice,
  NoticeKind,
  type KeyBuilder,
  type UserKeys,
} from '../../keys';
import { registerSecret } from '../../redaction';
import type { RedisSource } from '../../redis-source';
import { ConnectionWatch } from './connection-watch';
import { RedisLoadRegistry } from './load-registry';
import { RedisNoticeRoute } from './notice-route';
import { bootRedisStore } from './redis-boot';
import { acquireResult, finishResult, ttlFromPttl } from './redis-replies';
import type {
  AcquireRequest,
  AcquireResult,
  FinishRequest,
  FinishResult,
  NoticePath,
  RemoteLoadStore,
  StoreFailure,
  StoreListener,
} from '../load-store';
import { classifyRedisError } from './redis-errors';
import type { RedisCommands, ReplicaWait } from './redis-commands';
import { redisCommandsFor } from './redis-connection';
import { FENCE_RETENTION_MS, FINISH_MARKER_MS, REDIS_SCRIPTS as S } from './redis-scripts';
import { RedisSubscriber } from './redis-subscriber';

/**
 * Redis adapter. Commands go through the (owned or borrowed) client, whichever library made it
 * (see {@link RedisCommands}); notifications arrive on one subscriber connection per store,
 * always created (and closed) by us.
 */
export class RedisLoadStore implements RemoteLoadStore {
  readonly kind = 'redis' as const;
  /** Failures surface as errors; `GuardedLoadStore` tracks degradation. */
  readonly isDegraded = false;
  private readonly redis: RedisCommands;
  private readonly finishMarkerMs: string;
  private readonly waitForReplicas: ReplicaWait | undefined;
  private readonly logger: LoadStatusLogger;
  private readonly subscriber: RedisSubscriber;
  private readonly watch: ConnectionWatch;
  private readonly forgetSecrets: Array<() => void>;
  /** Where notices go: decided at boot. */
  private readonly route: RedisNoticeRoute;
  private readonly loads: RedisLoadRegistry;

  constructor(
    source: RedisSource,
    private readonly keys: Pick<
      KeyBuilder,
      | 'channel'
      | 'shardChannels'
      | 'pattern'
      | 'probeKey'
      | 'generationKeys'
      | 'loadsKey'
      | 'loadFlagsPattern'
    >,
    {
      waitForReplicas,
      logger = nestLogger(),
      finishMarkerMs = FINISH_MARKER_MS,
    }: {
      /** Replica-acknowledged locks (see `waitForReplicas`). */
      readonly waitForReplicas?: ReplicaWait;
      readonly logger?: LoadStatusLogger;
      /** How long a finish's marker lives: longer than its retries may go on (see `outageGraceMs`). */
      readonly finishMarkerMs?: number;
    } = {},
  ) {
    this.waitForReplicas = waitForReplicas;
    this.logger = logger;
    this.finishMarkerMs = String(finishMarkerMs);
    this.redis = redisCommandsFor(source, this.logger);
    // Before anything can be logged: no password leaves the module.
    this.forgetSecrets = this.redis.secrets.map(registerSecret);
    this.watch = new ConnectionWatch(this.redis.connectionEvents);
    this.route = new RedisNoticeRoute(this.redis, keys.channel, keys.shardChannels, this.logger);
    this.loads = new RedisLoadRegistry(this.redis, keys, this.route);
    this.subscriber = new RedisSubscriber(this.logger);
  }

  /** What an error of this store's client means to the store-error policy. */
  classify(error: unknown): StoreFailure {
    return classifyRedisError(error);
  }

  get notificationsLive(): boolean {
    return this.subscriber.live;
  }

  get notices(): NoticePath {
    return this.route.path;
  }

  get rejection(): StoreFailure | undefined {
    return this.watch.lastRejection?.failure ?? this.subscriber.rejection;
  }

  bootRejection(): StoreFailure | undefined {
    return this.watch.bootRejection() ?? this.subscriber.rejection;
  }

  /** See {@link bootRedisStore}: connects, subscribes and probes; rejects when refused. */
  init(listener: StoreListener): Promise<void> {
    const { redis, watch, subscriber, route, keys } = this;
    const assertConnected = () => this.assertConnected();
    return bootRedisStore({ redis, watch, subscriber, route, keys, assertConnected }, listener);
  }

  async flagTtl(user: UserKeys, watchMs?: number): Promise<number | undefined> {
    this.assertConnected();
    const pttl =
      watchMs === undefined
        ? await this.redis.evalScript(S.flag, [user.loaded, user.generation], [])
        : await this.redis.evalScript(
            S.watch,
            [user.loaded, user.waiting, user.generation],
            [String(watchMs)],
          );
    return ttlFromPttl(pttl);
  }

  async setLoaded(user: UserKeys, ttlMs: number): Promise<void> {
    this.assertConnected();
    await this.redis.evalScript(
      S.setLoaded,
      [user.loaded, user.waiting, user.generation],
      [String(ttlMs), ...this.route.forUser(user, NoticeKind.Loaded)],
    );
  }

  async clearLoaded(user: UserKeys): Promise<void> {
    this.assertConnected();
    await this.redis.evalScript(
      S.clear,
      [user.loaded],
      this.route.forUser(user, NoticeKind.Cleared),
    );
  }

  async acquire(
    user: UserKeys,
    token: string,
    { ttlMs, checkFlag, refreshAheadMs = 0 }: AcquireRequest,
  ): Promise<AcquireResult> {
    this.assertConnected();
    const keys = [user.loaded, user.lock, user.fence, user.waiting, user.generation];
    const args = [
      token,
      String(ttlMs),
      FENCE_RETENTION_S,
      checkFlag ? '1' : '0',
      String(refreshAheadMs),
    ];
    const wanted = this.waitForReplicas;
    const [reply, acks, stillOurs] = wanted
      ? await this.redis.evalScriptThenWait({ script: S.acquire, keys, args }, wanted, {
          script: S.owns,
          keys: [user.lock],
          args: [token],
        })
      : [await this.redis.evalScript(S.acquire, keys, args), undefined, undefined];
    const result = acquireResult(reply, ttlMs);
    if (result.state !== 'acquired' || !wanted) return result;
    // Too few acknowledgements, or (after a failover in mid-pipeline) the master that serves the
    // lock now does not have it: a failover to a replica that has not seen it could hand it out
    // again, so it is never used.
    if (acks! < wanted.replicas || Number(stillOurs) !== 1) {
      await this.release(user, token);
      // A refresh that cannot be replicated: the user is still loaded; someone refreshes later.
      if (result.refreshOf !== undefined) return { state: 'loaded', remainingMs: result.refreshOf };
      return { state: 'unreplicated', acks: acks!, replicas: wanted.replicas };
    }
    return result;
  }

  async extend(user: UserKeys, token: string, ttlMs: number): Promise<boolean> {
    this.assertConnected();
    return Number(await this.redis.evalScript(S.extend, [user.lock], [token, String(ttlMs)])) === 1;
  }

  async release(user: UserKeys, token: string): Promise<boolean> {
    this.assertConnected();
    const owned = await this.redis.evalScript(
      S.release,
      [user.lock, user.waiting],
      [token, ...this.route.forUser(user, NoticeKind.Released)],
    );
    return Number(owned) === 1;
  }

  async finish(
    user: UserKeys,
    token: string,
    { loadedTtlMs, generation }: FinishRequest,
  ): Promise<FinishResult> {
    this.assertConnected();
    const reply = await this.redis.evalScript(
      S.finish,
      [user.loaded, user.lock, user.waiting, user.generation, user.finished],
      [
        token,
        String(loadedTtlMs),
        ...this.route.forUser(user, NoticeKind.Loaded, token),
        generation ?? '',
        encodeNotice(NoticeKind.Released, user.tag),
        this.finishMarkerMs,
      ],
    );
    return finishResult(reply);
  }

  /**
   * One script per group (NOTICE_GROUPS of them, whatever the number of users), each on one key
   * of its own slot: never cross-slot. Sharded: each group's script notifies its shard; classic:
   * one notice on the channel after every group moved on.
   */
  async clearAllLoaded(): Promise<void> {
    this.assertConnected();
    const message = encodeNotice(NoticeKind.ClearedAll, ALL_USERS_TAG);
    const moved = await Promise.allSettled(
      this.keys.generationKeys.map((key, group) =>
        this.redis.evalScript(S.clearGroup, [key], this.route.forGroup(group, message)),
      ),
    );
    // Groups that did move on are told even if another failed (then the caller hears of it).
    await this.route.afterGroups(message);
    const failed = moved.find((m): m is PromiseRejectedResult => m.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** See {@link RedisLoadRegistry.clear}: a SCAN for the load's flags. */
  async clearLoad(name: string): Promise<void> {
    this.assertConnected();
    await this.loads.clear(name);
  }

  async registerLoad(name: string): Promise<void> {
    this.assertConnected();
    await this.loads.register(name);
  }

  async loadNames(): Promise<string[]> {
    this.assertConnected();
    return this.loads.names();
  }

  async finishLock(user: UserKeys, token: string): Promise<boolean> {
    this.assertConnected();
    const owned = await this.redis.evalScript(
      S.finishLock,
      [user.lock, user.waiting],
      [token, ...this.route.forUser(user, NoticeKind.Loaded, token)],
    );
    return Number(owned) === 1;
  }

  async publish(kind: NoticeKind, user: UserKeys): Promise<void> {
    this.assertConnected();
    await this.route.publish(kind, user);
  }

  /** SCANs (every master of a Cluster) for this prefix's keys and UNLINKs what it finds. */
  async reset(): Promise<void> {
    this.assertConnected();
    await this.redis.unlinkMatching(this.keys.pattern);
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
