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
import type { RedisCommands } from './redis-commands';
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
  private readonly subscriber: RedisSubscriber;
  private readonly watch: ConnectionWatch;
  private readonly forgetSecrets: Array<() => void>;
  private readonly channel: string;
  private readonly shardChannels: readonly string[];
  /** SCAN pattern of every key this store writes, for `reset()`. */
  private readonly keyPattern: string;
  private readonly probeKey: string;
  private readonly generationKeys: readonly string[];
  /** Shard-local notices (SPUBLISH on the user's group channel), decided at boot. */
  private sharded = false;
  private noticePath: NoticePath = { mode: 'classic' };

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
    /** Replica-acknowledged locks (see `waitForReplicas`). */
    private readonly waitForReplicas?: { replicas: number; timeoutMs: number },
    private readonly logger: LoadStatusLogger = nestLogger(),
    /** How long a finish's marker lives: longer than its retries may go on (see `outageGraceMs`). */
    finishMarkerMs = FINISH_MARKER_MS,
  ) {
    this.finishMarkerMs = String(finishMarkerMs);
    this.redis = redisCommandsFor(source, this.logger);
    // Before anything can be logged: no password leaves the module.
    this.forgetSecrets = this.redis.secrets.map(registerSecret);
    this.watch = new ConnectionWatch(this.redis.connectionEvents);
    this.channel = keys.channel;
    this.shardChannels = keys.shardChannels;
    this.keyPattern = keys.pattern;
    this.probeKey = keys.probeKey;
    this.generationKeys = keys.generationKeys;
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
    return this.noticePath;
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
    const refused = this.watch.rejected;
    let unreachable: unknown;
    try {
      // A borrowed client still connecting is waited for (bounded by the caller), so the first
      // commands are not failed fast as if Redis were down.
      await Promise.race([this.redis.connect(), refused]);
      await this.choosePath();
    } catch (error) {
      // The client's own reason may say only that it gave up ('Connection is closed.'); the
      // connection's last error says why (ECONNREFUSED, a DNS failure, a timeout).
      unreachable = this.watch.lastError ?? error;
    }
    // Started whatever happened, so it keeps trying while Redis is down (and gives up at close).
    const subscribed = this.subscriber.start(
      this.redis.notifications(this.sharded),
      this.sharded ? this.shardChannels : [this.channel],
      listener,
    );
    subscribed.catch(() => undefined); // awaited below; rejections are reported there
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrown as it came
    if (unreachable !== undefined) throw unreachable;
    await Promise.race([subscribed, refused]);
    await this.probe();
  }

  /**
   * Shard-local notices on a Cluster whose server (Redis 7) and client can carry them; classic
   * pub/sub otherwise, with the reason in the log and the health details.
   */
  private async choosePath(): Promise<void> {
    if (this.redis.topology !== 'cluster') return;
    const clientLacks = this.redis.shardedNoticesUnsupported;
    const serverLacks =
      clientLacks === undefined && !(await this.redis.serverHas('SPUBLISH'))
        ? 'the server has no sharded pub/sub (Redis 7 or later has)'
        : undefined;
    const reason = clientLacks ?? serverLacks;
    this.sharded = reason === undefined;
    this.noticePath = reason === undefined ? { mode: 'sharded' } : { mode: 'classic', reason };
    if (reason === undefined) this.logger.debug('Cluster: notices are shard-local (SPUBLISH)');
    else this.logger.warn(`Cluster: notices use classic pub/sub across the cluster bus: ${reason}`);
  }

  /** Auth, every script (loaded, and every command they run), and publishing on the channel. */
  private async probe(): Promise<void> {
    this.assertConnected();
    await this.redis.ping();
    await this.redis.loadScripts(Object.values(S));
    const [channel, publish] = this.sharded
      ? [this.shardChannels[0], 'SPUBLISH']
      : [this.channel, 'PUBLISH'];
    await this.redis.evalScript(S.probe, [this.probeKey], [channel, 'P:%probe', publish]);
  }

  /** The script arguments of a notice for `user`: channel, message, publish command. */
  private notice(user: UserKeys, kind: NoticeKind, holder?: string): [string, string, string] {
    const message = encodeNotice(kind, user.tag, holder);
    return this.sharded
      ? [user.shardChannel, message, 'SPUBLISH']
      : [this.channel, message, 'PUBLISH'];
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
      [String(ttlMs), ...this.notice(user, NoticeKind.Loaded)],
    );
  }

  async clearLoaded(user: UserKeys): Promise<void> {
    this.assertConnected();
    await this.redis.evalScript(S.clear, [user.loaded], this.notice(user, NoticeKind.Cleared));
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
      ? await this.redis.evalScriptThenWait(
          S.acquire,
          keys,
          args,
          wanted.replicas,
          wanted.timeoutMs,
          { script: S.owns, keys: [user.lock], args: [token] },
        )
      : [await this.redis.evalScript(S.acquire, keys, args), undefined, undefined];
    const [state, value, lineage, generation, flagLeft] = reply as [
      number | string,
      number | string,
      string | undefined,
      string | number | undefined,
      number | string | undefined,
    ];
    // Number(): a borrowed client may use `stringNumbers`, which turns every integer into a string.
    const code = Number(state);
    if (code === 2) return { state: 'loaded', remainingMs: ttlFromPttl(value) ?? 0 };
    if (code === 3)
      return { state: 'loaded', remainingMs: ttlFromPttl(value) ?? 0, refreshing: true };
    if (code === 1) {
      // Too few acknowledgements, or (after a failover in mid-pipeline) the master that serves the
      // lock now does not have it: never used.
      if (wanted && (acks! < wanted.replicas || Number(stillOurs) !== 1)) {
        // A failover to a replica that has not seen it could hand it out again: never used.
        await this.release(user, token);
        // A refresh that cannot be replicated: the user is still loaded; someone refreshes later.
        if (Number(flagLeft) >= 0) return { state: 'loaded', remainingMs: Number(flagLeft) };
        return { state: 'unreplicated', acks: acks!, replicas: wanted.replicas };
      }
      return {
        state: 'acquired',
        fencingToken: Number(value),
        incarnation: `redis:${lineage}`,
        // '' when the flag was not checked (a bare acquireLoadLock, which never finishes).
        ...(generation ? { generation: String(generation) } : {}),
        ...(Number(flagLeft) >= 0 ? { refreshOf: Number(flagLeft) } : {}),
      };
    }
    // PTTL is -1 only for a lock someone set by hand without expiry: wait a full lease then.
    return {
      state: 'held',
      remainingMs: Number(value) >= 0 ? Number(value) : ttlMs,
      ...(lineage ? { holder: String(lineage) } : {}),
    };
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
      [token, ...this.notice(user, NoticeKind.Released)],
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
        ...this.notice(user, NoticeKind.Loaded, token),
        generation ?? '',
        encodeNotice(NoticeKind.Released, user.tag),
        this.finishMarkerMs,
      ],
    );
    const [owned, committed] = reply as [number | string, number | string];
    return { owned: Number(owned) === 1, committed: Number(committed) === 1 };
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
      this.generationKeys.map((key, group) =>
        this.redis.evalScript(
          S.clearGroup,
          [key],
          this.sharded ? [this.shardChannels[group], message, 'SPUBLISH'] : ['', '', ''],
        ),
      ),
    );
    // Groups that did move on are told even if another failed (then the caller hears of it).
    if (!this.sharded) await this.redis.publish(this.channel, message, false);
    const failed = moved.find((m): m is PromiseRejectedResult => m.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** SCANs (every master of a Cluster) for the load's flags, UNLINKs them, and tells everyone. */
  async clearLoad(name: string): Promise<void> {
    this.assertConnected();
    await this.redis.unlinkMatching(this.keys.loadFlagsPattern(name));
    await this.tellAllCleared();
  }

  /** A ClearedAll notice to every process: on each group's shard channel, or on the one channel. */
  private async tellAllCleared(): Promise<void> {
    const message = encodeNotice(NoticeKind.ClearedAll, ALL_USERS_TAG);
    if (!this.sharded) return this.redis.publish(this.channel, message, false);
    await Promise.all(
      this.shardChannels.map((channel) => this.redis.publish(channel, message, true)),
    );
  }

  async registerLoad(name: string): Promise<void> {
    this.assertConnected();
    await this.redis.evalScript(S.registerLoad, [this.keys.loadsKey], [encodeURIComponent(name)]);
  }

  async loadNames(): Promise<string[]> {
    this.assertConnected();
    const names = await this.redis.evalScript(S.loadNames, [this.keys.loadsKey], []);
    return String(names)
      .split('\n')
      .filter((encoded) => encoded !== '')
      .map((encoded) => decodeURIComponent(encoded));
  }

  async finishLock(user: UserKeys, token: string): Promise<boolean> {
    this.assertConnected();
    const owned = await this.redis.evalScript(
      S.finishLock,
      [user.lock, user.waiting],
      [token, ...this.notice(user, NoticeKind.Loaded, token)],
    );
    return Number(owned) === 1;
  }

  async publish(kind: NoticeKind, user: UserKeys): Promise<void> {
    this.assertConnected();
    const [channel, message] = this.notice(user, kind);
    await this.redis.publish(channel, message, this.sharded);
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
