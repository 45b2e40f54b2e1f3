import { EventEmitter } from 'node:events';
import type {
  NotificationConnection,
  NotificationHandlers,
  RedisCommands,
  RedisTopology,
  ScriptCall,
} from './redis-commands';
import { secretsIn } from '../../redaction';
import { ClientAdapter, whenReady } from './client-adapter';
import type { ConnectionEvents } from './connection-watch';
import type { LuaScript } from './redis-scripts';

/** The part of an ioredis (5 or 6) `Redis` or `Cluster` this adapter uses. */
export interface IoRedisLike {
  readonly status: string;
  readonly isCluster?: boolean;
  readonly options?: {
    readonly sentinels?: unknown;
    readonly redisOptions?: unknown;
    readonly host?: string;
    readonly port?: number;
  };
  /** A Cluster's startup nodes (URLs or addresses, possibly with credentials). */
  readonly startupNodes?: unknown;
  script(subcommand: 'LOAD', lua: string): Promise<unknown>;
  duplicate(...args: unknown[]): IoRedisLike;
  call(command: string, ...args: string[]): Promise<unknown>;
  connect(): Promise<void>;
  evalsha(sha: string, numberOfKeys: number, ...args: string[]): Promise<unknown>;
  eval(lua: string, numberOfKeys: number, ...args: string[]): Promise<unknown>;
  publish(channel: string, message: string): Promise<unknown>;
  ping(): Promise<unknown>;
  unlink(...keys: string[]): Promise<unknown>;
  subscribe(...channels: string[]): Promise<unknown>;
  ssubscribe?(...channels: string[]): Promise<unknown>;
  spublish?(channel: string, message: string): Promise<unknown>;
  scanStream(options: { match: string; count: number }): AsyncIterable<string[]>;
  pipeline(): IoRedisPipeline;
  nodes?(role: 'master' | 'all'): IoRedisLike[];
  /** A Cluster's: re-reads the slot map. */
  refreshSlotsCache?(callback?: (error?: Error) => void): void;
  quit(): Promise<unknown>;
  disconnect(): void;
  on(event: string, listener: (...args: any[]) => void): unknown;
  once(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
}

interface IoRedisPipeline {
  call(command: string, ...args: string[]): IoRedisPipeline;
  evalsha(sha: string, numberOfKeys: number, ...args: string[]): IoRedisPipeline;
  eval(lua: string, numberOfKeys: number, ...args: string[]): IoRedisPipeline;
  wait(replicas: number, timeoutMs: number): IoRedisPipeline;
  exec(): Promise<unknown>;
}

/** True for an ioredis `Redis` or `Cluster`, from any copy of ioredis 5 or 6. */
export function isIoRedisClient(value: unknown): value is IoRedisLike {
  const c = value as IoRedisLike;
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof c.status === 'string' &&
    typeof c.evalsha === 'function' &&
    typeof c.duplicate === 'function' &&
    typeof (value as { call?: unknown }).call === 'function'
  );
}

function isIoCluster(client: IoRedisLike): boolean {
  return client.isCluster === true && typeof client.nodes === 'function';
}

/** {@link RedisCommands} over an ioredis client. */
export class IoRedisCommands extends ClientAdapter implements RedisCommands {
  readonly library = 'ioredis' as const;
  readonly topology: RedisTopology;
  readonly connectionEvents: readonly ConnectionEvents[];
  readonly secrets: readonly string[];
  private shardedSupport: boolean | undefined;

  constructor(
    private readonly client: IoRedisLike,
    /** True when the store created the client (and so closes it). */
    private readonly owned: boolean,
  ) {
    super();
    this.topology = isIoCluster(client)
      ? 'cluster'
      : client.options?.sentinels
        ? 'sentinel'
        : 'standalone';
    this.connectionEvents = [client];
    this.secrets = secretsIn([client.options, client.startupNodes]);
  }

  get writable(): boolean {
    // 'wait': a lazy client that never connected yet connects on its first command.
    const status = this.client.status;
    return status === 'ready' || status === 'wait';
  }

  async connect(): Promise<void> {
    const status = this.client.status;
    if (this.owned && status === 'wait') await this.client.connect();
    else if (status === 'connecting' || status === 'connect') await whenReady(this.client);
  }

  protected runScript(byEval: boolean, call: ScriptCall): Promise<unknown> {
    return sendScript(this.client, byEval, call);
  }

  protected runAroundWait(
    byEval: boolean,
    first: ScriptCall,
    wait: { replicas: number; timeoutMs: number },
    then: ScriptCall,
  ): Promise<[unknown, unknown, unknown]> {
    const attempt = async (
      via: IoRedisLike,
      asking: boolean,
      redirections: number,
    ): Promise<[unknown, unknown, unknown]> => {
      const pipeline = via.pipeline();
      if (asking) pipeline.call('ASKING');
      sendScript(pipeline, byEval, first);
      // WAIT in a pipeline, never in MULTI (where it does not block and counts stale acks).
      pipeline.wait(wait.replicas, wait.timeoutMs);
      sendScript(pipeline, byEval, then);
      const replies = (await pipeline.exec()) as Array<[Error | null, unknown]>;
      const [[scriptError, reply], [waitError, acks], [thenError, thenReply]] = asking
        ? replies.slice(1)
        : replies;
      // A Cluster redirects the script (a slot moved, e.g. after a failover): it did not run
      // there, and ioredis retries no pipeline with a WAIT in it, so follow the redirection
      // ourselves, to the node named, where the WAIT must go too.
      const redirect = scriptError && /^(MOVED|ASK) \d+ (\S+):(\d+)/.exec(scriptError.message);
      if (redirect && isIoCluster(this.client) && redirections < 3) {
        if (redirect[1] === 'MOVED') this.client.refreshSlotsCache?.();
        const node = this.client.nodes!('all').find(
          (n) => n.options?.host === redirect[2] && n.options?.port === Number(redirect[3]),
        );
        if (node) return attempt(node, redirect[1] === 'ASK', redirections + 1);
      }
      if (scriptError) throw scriptError;
      if (waitError) throw waitError;
      if (thenError) throw thenError;
      return [reply, acks, thenReply];
    };
    return attempt(this.client, false, 0);
  }

  async loadScripts(scripts: readonly LuaScript[]): Promise<void> {
    // On a Cluster, SCRIPT LOAD through the client goes to one random node: load on each master.
    const nodes = isIoCluster(this.client) ? this.client.nodes!('master') : [this.client];
    await Promise.all(nodes.flatMap((node) => scripts.map((s) => node.script('LOAD', s.lua))));
  }

  async publish(channel: string, message: string, sharded: boolean): Promise<void> {
    if (sharded) await this.client.spublish!(channel, message);
    else await this.client.publish(channel, message);
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async serverHas(command: string): Promise<boolean> {
    const [info] = (await this.client.call('COMMAND', 'INFO', command)) as unknown[];
    return Array.isArray(info);
  }

  async unlinkMatching(pattern: string): Promise<void> {
    const nodes = isIoCluster(this.client) ? this.client.nodes!('master') : [this.client];
    for (const node of nodes) {
      for await (const batch of node.scanStream({ match: pattern, count: 500 })) {
        // One UNLINK per key: in a Cluster, keys of different users live in different slots.
        await Promise.all(batch.map((key) => node.unlink(key)));
      }
    }
  }

  get shardedNoticesUnsupported(): string | undefined {
    if (!isIoCluster(this.client)) return 'not a Cluster';
    if (this.shardedSupport === undefined) {
      // `shardedSubscribers` (one subscriber per master, re-homed on failover) came in 5.6: a
      // Cluster made with it has the group that drives them.
      const probe = this.client.duplicate([], { shardedSubscribers: true, lazyConnect: true });
      this.shardedSupport =
        typeof (probe as { shardedSubscribers?: unknown }).shardedSubscribers === 'object';
      probe.disconnect();
    }
    return this.shardedSupport
      ? undefined
      : 'this ioredis has no sharded subscribers (5.6 or later has)';
  }

  notifications(sharded: boolean): NotificationConnection {
    return sharded
      ? new IoRedisShardedNotifications(this.client)
      : new IoRedisNotifications(this.client);
  }

  async close(): Promise<void> {
    if (this.owned) await quit(this.client);
  }
}

/** EVALSHA, or EVAL when `byEval`, of `call` on a client or into a pipeline. */
function sendScript<T>(
  to: {
    evalsha(sha: string, numberOfKeys: number, ...args: string[]): T;
    eval(lua: string, numberOfKeys: number, ...args: string[]): T;
  },
  byEval: boolean,
  { script, keys, args }: ScriptCall,
): T {
  return byEval
    ? to.eval(script.lua, script.numberOfKeys, ...keys, ...args)
    : to.evalsha(script.sha, script.numberOfKeys, ...keys, ...args);
}

/** A duplicate of the client, subscribed; ioredis reconnects it and restores its subscriptions. */
class IoRedisNotifications implements NotificationConnection {
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
    connection.on('error', (error: unknown) => handlers.error(error));
    connection.on('message', (channel: string, message: string) =>
      handlers.message(channel, message),
    );
    connection.on('close', () => handlers.down());
    connection.on('ready', () => handlers.ready());
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
 * Shard-local notices on a Cluster: a duplicate with `shardedSubscribers`, which keeps one
 * subscriber connection per master and moves a shard's subscriptions when its master changes
 * ('-subscriber' while it does, 'subscribersReady' once every shard is subscribed again).
 */
class IoRedisShardedNotifications implements NotificationConnection {
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
    connection.on('error', (error: unknown) => handlers.error(error));
    connection.on('smessage', (channel: string, message: string) =>
      handlers.message(channel, message),
    );
    connection.on('-subscriber', () => {
      this.shardLost = true;
      handlers.down();
    });
    connection.on('subscribersReady', () => {
      this.shardLost = false;
      handlers.ready();
    });
    connection.on('close', () => handlers.down());
    connection.on('ready', () => handlers.ready());
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

/** How long a QUIT may take before the connection is dropped instead. */
const QUIT_WITHIN_MS = 1_000;

/**
 * QUIT politely, for at most {@link QUIT_WITHIN_MS}: a connection that is down, or whose server
 * does not answer (a network that drops packets), is disconnected instead of waited on.
 */
async function quit(client: IoRedisLike): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  const quitting = client.quit();
  quitting.catch(() => undefined); // rejected by the disconnect below when it comes too late
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>(
    (resolve) => (timer = setTimeout(resolve, QUIT_WITHIN_MS, 'late')),
  );
  try {
    if ((await Promise.race([quitting, late])) === 'late') client.disconnect();
  } catch {
    client.disconnect();
  } finally {
    clearTimeout(timer);
  }
}
