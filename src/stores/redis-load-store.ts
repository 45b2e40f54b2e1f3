import { Logger } from '@nestjs/common';
import type { Redis, RedisOptions } from 'ioredis';
import { errorText } from '../errors';
import { encodeNotice, NoticeKind } from '../keys';
import type { AcquireResult, LoadStore, StoreListener, StoreUser } from './load-store';
import { isCluster, isRedisClient, quit, type RedisClient } from './redis-client';
import { FENCE_RETENTION_MS, REDIS_SCRIPTS } from './redis-scripts';
import { RedisSubscriber } from './redis-subscriber';

/** The scripts of redis-scripts.ts as ioredis exposes them after `defineCommand`. */
interface ScriptCommands {
  loadStatusAcquire(
    loaded: string,
    lock: string,
    fence: string,
    waiting: string,
    token: string,
    leaseMs: number,
    fenceMs: number,
    checkFlag: string,
  ): Promise<[number, number]>;
  loadStatusExtend(lock: string, token: string, leaseMs: number): Promise<number>;
  loadStatusRelease(
    lock: string,
    waiting: string,
    token: string,
    channel: string,
    message: string,
  ): Promise<number>;
  loadStatusFinish(
    loaded: string,
    lock: string,
    waiting: string,
    token: string,
    ttlMs: number,
    channel: string,
    message: string,
  ): Promise<number>;
  loadStatusFinishLock(
    lock: string,
    waiting: string,
    token: string,
    channel: string,
    message: string,
  ): Promise<number>;
  loadStatusSetLoaded(
    loaded: string,
    waiting: string,
    ttlMs: number,
    channel: string,
    message: string,
  ): Promise<number>;
  loadStatusClear(loaded: string, channel: string, message: string): Promise<number>;
  loadStatusWatch(loaded: string, waiting: string, watchMs: number): Promise<number>;
}

/**
 * Redis adapter. Commands go through the (owned or borrowed) client; notifications arrive on one
 * subscriber connection per store, always created (and closed) by us.
 */
export class RedisLoadStore implements LoadStore {
  readonly kind = 'redis' as const;
  /** Failures surface as errors; `GuardedLoadStore` tracks degradation. */
  readonly isDegraded = false;
  private readonly client: RedisClient;
  private readonly commands: ScriptCommands;
  private readonly ownsClient: boolean;
  private readonly logger = new Logger('LoadStatus');
  private readonly subscriber: RedisSubscriber;

  constructor(
    source: string | RedisOptions | RedisClient,
    private readonly channel: string,
    /** SCAN pattern of every key this store writes, for `reset()`. */
    private readonly keyPattern: string,
  ) {
    if (isRedisClient(source)) {
      this.client = source;
      this.ownsClient = false;
    } else {
      // Loaded lazily: ioredis is an optional peer, needed only when Redis is configured.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { Redis: RedisCtor } = require('ioredis') as typeof import('ioredis');
      // No auto-pipelining: measured (npm run bench), its deferral to the next tick costs more
      // latency than batching saves, since a stampede is only a handful of round trips. Pass
      // `enableAutoPipelining: true` in the options to opt in. A caller's options win.
      const shared: RedisOptions = { maxRetriesPerRequest: 1, lazyConnect: true };
      this.client =
        typeof source === 'string'
          ? new RedisCtor(source, shared)
          : new RedisCtor({ ...shared, ...source });
      this.ownsClient = true;
      this.client.on('error', (error: unknown) =>
        this.logger.debug(`redis client error: ${errorText(error)}`),
      );
    }
    for (const [name, script] of Object.entries(REDIS_SCRIPTS)) {
      this.client.defineCommand(name, { numberOfKeys: script.numberOfKeys, lua: script.lua });
    }
    this.commands = this.client as unknown as ScriptCommands;
    this.subscriber = new RedisSubscriber(channel, this.logger);
  }

  get notificationsLive(): boolean {
    return this.subscriber.live;
  }

  async init(listener: StoreListener): Promise<void> {
    // The subscriber is created first, so it keeps trying even if Redis is down right now.
    const subscribed = this.subscriber.start(this.client, listener);
    subscribed.catch(() => undefined); // awaited below; rejections are reported there
    if (this.ownsClient && this.client.status === 'wait') await this.client.connect();
    else if (this.client.status === 'connecting' || this.client.status === 'connect') {
      // A borrowed client still connecting: wait for it (bounded by the caller), so the first
      // commands are not failed fast as if Redis were down.
      await whenReady(this.client);
    }
    await subscribed;
  }

  async flagTtl(user: StoreUser, watchMs?: number): Promise<number | undefined> {
    this.assertConnected();
    const pttl =
      watchMs === undefined
        ? await this.client.pttl(user.loaded)
        : await this.commands.loadStatusWatch(user.loaded, user.waiting, watchMs);
    return ttlFromPttl(pttl);
  }

  async setLoaded(user: StoreUser, ttlMs: number): Promise<void> {
    this.assertConnected();
    await this.commands.loadStatusSetLoaded(
      user.loaded,
      user.waiting,
      ttlMs,
      this.channel,
      encodeNotice(NoticeKind.Loaded, user.tag),
    );
  }

  async clearLoaded(user: StoreUser): Promise<void> {
    this.assertConnected();
    await this.commands.loadStatusClear(
      user.loaded,
      this.channel,
      encodeNotice(NoticeKind.Cleared, user.tag),
    );
  }

  async acquire(
    user: StoreUser,
    token: string,
    ttlMs: number,
    checkFlag: boolean,
  ): Promise<AcquireResult> {
    this.assertConnected();
    const [state, value] = await this.commands.loadStatusAcquire(
      user.loaded,
      user.lock,
      user.fence,
      user.waiting,
      token,
      ttlMs,
      FENCE_RETENTION_MS,
      checkFlag ? '1' : '0',
    );
    // Number(): a borrowed client may use `stringNumbers`, which turns every integer into a string.
    const code = Number(state);
    if (code === 2) return { state: 'loaded', remainingMs: ttlFromPttl(value) ?? 0 };
    if (code === 1) return { state: 'acquired', fencingToken: Number(value) };
    // PTTL is -1 only for a lock someone set by hand without expiry: wait a full lease then.
    return { state: 'held', remainingMs: Number(value) >= 0 ? Number(value) : ttlMs };
  }

  async extend(user: StoreUser, token: string, ttlMs: number): Promise<boolean> {
    this.assertConnected();
    return Number(await this.commands.loadStatusExtend(user.lock, token, ttlMs)) === 1;
  }

  async release(user: StoreUser, token: string): Promise<boolean> {
    this.assertConnected();
    const owned = await this.commands.loadStatusRelease(
      user.lock,
      user.waiting,
      token,
      this.channel,
      encodeNotice(NoticeKind.Released, user.tag),
    );
    return Number(owned) === 1;
  }

  async finish(user: StoreUser, token: string, loadedTtlMs: number): Promise<boolean> {
    this.assertConnected();
    const owned = await this.commands.loadStatusFinish(
      user.loaded,
      user.lock,
      user.waiting,
      token,
      loadedTtlMs,
      this.channel,
      encodeNotice(NoticeKind.Loaded, user.tag),
    );
    return Number(owned) === 1;
  }

  async finishLock(user: StoreUser, token: string): Promise<boolean> {
    this.assertConnected();
    const message = encodeNotice(NoticeKind.Loaded, user.tag);
    const owned = await this.commands.loadStatusFinishLock(
      user.lock,
      user.waiting,
      token,
      this.channel,
      message,
    );
    return Number(owned) === 1;
  }

  async publish(kind: NoticeKind, user: StoreUser): Promise<void> {
    this.assertConnected();
    await this.client.publish(this.channel, encodeNotice(kind, user.tag));
  }

  /** SCANs (every master of a Cluster) for `<prefix>:*` and UNLINKs what it finds. */
  async reset(): Promise<void> {
    this.assertConnected();
    const nodes: Redis[] = isCluster(this.client) ? this.client.nodes('master') : [this.client];
    for (const node of nodes) {
      const stream = node.scanStream({ match: `${this.keyPattern}`, count: 500 });
      for await (const batch of stream as AsyncIterable<string[]>) {
        // One UNLINK per key: in a Cluster, keys of different users live in different slots.
        await Promise.all(batch.map((key) => node.unlink(key)));
      }
    }
  }

  async ping(): Promise<void> {
    this.assertConnected();
    await this.client.ping();
  }

  async close(): Promise<void> {
    await Promise.all([this.subscriber.close(), this.ownsClient ? quit(this.client) : undefined]);
  }

  /**
   * Fails at once while the connection is down instead of letting ioredis queue the command until
   * it reconnects: callers get the store-error policy now, not after a timeout. A client that
   * never connected yet (`lazyConnect`) connects on its first command as usual.
   */
  private assertConnected(): void {
    const status = this.client.status;
    if (status !== 'ready' && status !== 'wait') throw new Error(`Redis connection is ${status}`);
  }
}

function whenReady(client: RedisClient): Promise<void> {
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      client.off('end', onEnd);
      resolve();
    };
    const onEnd = (): void => {
      client.off('ready', onReady);
      reject(new Error('Redis connection ended before it was ready'));
    };
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}

/** PTTL's reply as a remaining lifetime: -2 (no key) is undefined, -1 (no expiry) is "forever". */
function ttlFromPttl(reply: number | string): number | undefined {
  const pttl = Number(reply);
  if (pttl === -2) return undefined;
  return pttl === -1 ? Number.MAX_SAFE_INTEGER : pttl;
}
