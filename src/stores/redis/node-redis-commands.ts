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

type Listener = (message: string, channel: string) => void;
type EventListener = (...args: any[]) => void;

/** What every node-redis (5 or 6) client kind has. */
interface NodeRedisBase {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: Listener): Promise<unknown>;
  unsubscribe(channel: string, listener: Listener): Promise<unknown>;
  sSubscribe?(channel: string, listener: Listener): Promise<unknown>;
  sUnsubscribe?(channel: string, listener: Listener): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): unknown;
  on(event: string, listener: EventListener): unknown;
  off(event: string, listener: EventListener): unknown;
  once(event: string, listener: EventListener): unknown;
}

/** A node-redis MULTI builder, run as a pipeline (`execAsPipeline`). */
interface NodeRedisPipeline<Add extends unknown[]> {
  addCommand(...args: Add): NodeRedisPipeline<Add>;
  execAsPipeline(): Promise<unknown[]>;
}

/** `createClient()`. */
interface NodeRedisStandalone extends NodeRedisBase {
  readonly isReady: boolean;
  sendCommand(args: string[], options?: object): Promise<unknown>;
  duplicate(): NodeRedisStandalone;
  multi(): NodeRedisPipeline<[args: string[]]>;
}

/** `createCluster()`: `isReady` only from 6.2. */
interface NodeRedisCluster extends NodeRedisBase {
  readonly isReady?: boolean;
  readonly masters: readonly unknown[];
  sendCommand(
    firstKey: string | undefined,
    isReadonly: boolean,
    args: string[],
    options?: object,
  ): Promise<unknown>;
  nodeClient(master: unknown): NodeRedisStandalone | Promise<NodeRedisStandalone>;
  duplicate(): NodeRedisCluster;
  multi(
    routingKey?: string,
  ): NodeRedisPipeline<[firstKey: string | undefined, isReadonly: boolean, args: string[]]>;
}

/** `createSentinel()`: `duplicate` only from 6. */
interface NodeRedisSentinel extends NodeRedisBase {
  readonly isReady: boolean;
  sendCommand(isReadonly: boolean, args: string[], options?: object): Promise<unknown>;
  duplicate?(): NodeRedisSentinel;
  multi(): NodeRedisPipeline<[isReadonly: boolean, args: string[]]>;
}

type NodeRedisClientOfKind =
  | { kind: 'standalone'; client: NodeRedisStandalone }
  | { kind: 'cluster'; client: NodeRedisCluster }
  | { kind: 'sentinel'; client: NodeRedisSentinel };

/** A client pool cannot keep a script and what follows it on one connection. */
export function isNodeRedisPool(value: unknown): boolean {
  const c = value as { execute?: unknown; totalClients?: unknown };
  return (
    isNodeRedisClient(value) &&
    typeof c.execute === 'function' &&
    typeof c.totalClients === 'number'
  );
}

/** True for any node-redis client kind, from any copy of `redis` / `@redis/client` 5 or 6. */
export function isNodeRedisClient(value: unknown): boolean {
  const c = value as { isOpen?: unknown; sendCommand?: unknown; evalSha?: unknown };
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof c.isOpen === 'boolean' &&
    typeof c.sendCommand === 'function' &&
    typeof c.evalSha === 'function'
  );
}

/** Which kind of node-redis client `value` is; undefined for one this adapter cannot drive. */
function kindOf(value: unknown): NodeRedisClientOfKind | undefined {
  const c = value as Record<string, unknown>;
  if (
    typeof c.getSlotMaster === 'function' &&
    typeof c.nodeClient === 'function' &&
    Array.isArray(c.masters)
  ) {
    return { kind: 'cluster', client: value as NodeRedisCluster };
  }
  if (typeof c.getMasterNode === 'function' && typeof c.getSentinelNode === 'function') {
    return { kind: 'sentinel', client: value as NodeRedisSentinel };
  }
  if (
    typeof c.duplicate === 'function' &&
    typeof c.subscribe === 'function' &&
    typeof c.isReady === 'boolean'
  ) {
    return { kind: 'standalone', client: value as NodeRedisStandalone };
  }
  return undefined;
}

/** Replies as the server sent them, whatever type mapping the app configured on its client. */
const RAW = { typeMapping: {} };

/** {@link RedisCommands} over a node-redis client, cluster or sentinel. */
export class NodeRedisCommands extends ClientAdapter implements RedisCommands {
  readonly library = 'node-redis' as const;
  readonly topology: RedisTopology;
  readonly connectionEvents: readonly ConnectionEvents[];
  readonly secrets: readonly string[];
  private readonly target: NodeRedisClientOfKind;

  /** Throws (a plain Error, for the caller to word) for a client kind it cannot drive. */
  constructor(
    client: unknown,
    /** True when the store created the client (and so closes it). */
    private readonly owned: boolean,
  ) {
    super();
    const target = kindOf(client);
    if (target === undefined) throw new Error('unsupported node-redis client kind');
    this.target = target;
    this.topology = target.kind;
    this.connectionEvents = [target.client];
    // A client shows its options (`options`), a cluster keeps them in `_options`; a sentinel
    // keeps them private (its errors carry no password).
    const c = client as { options?: unknown; _options?: unknown };
    this.secrets = secretsIn([c.options, c._options]);
  }

  get writable(): boolean {
    const { client } = this.target;
    // A v5 cluster has no isReady: its node clients queue while reconnecting, bounded by
    // commandTimeoutMs like any reply.
    return typeof client.isReady === 'boolean' ? client.isReady : client.isOpen;
  }

  /** True for a borrowed client that nobody connected: it would reject every command. */
  get neverOpened(): boolean {
    return !this.owned && !this.target.client.isOpen;
  }

  async connect(): Promise<void> {
    const { client } = this.target;
    if (this.owned && !client.isOpen) {
      await client.connect();
      return;
    }
    if (client.isOpen && typeof client.isReady === 'boolean' && !client.isReady) {
      await whenReady(client);
    }
  }

  protected runScript(byEval: boolean, call: ScriptCall): Promise<unknown> {
    return this.send(call.keys[0], scriptWords(byEval, call));
  }

  protected async runAroundWait(
    byEval: boolean,
    first: ScriptCall,
    { replicas, timeoutMs }: { replicas: number; timeoutMs: number },
    then: ScriptCall,
  ): Promise<[unknown, unknown, unknown]> {
    const head = scriptWords(byEval, first);
    const wait = ['WAIT', String(replicas), String(timeoutMs)];
    const tail = scriptWords(byEval, then);
    const key = first.keys[0];
    const target = this.target;
    // A pipeline (never MULTI, where WAIT does not block); a cluster's goes to the keys' master.
    let replies: unknown[];
    if (target.kind === 'standalone') {
      replies = await target.client
        .multi()
        .addCommand(head)
        .addCommand(wait)
        .addCommand(tail)
        .execAsPipeline();
    } else if (target.kind === 'cluster') {
      replies = await target.client
        .multi(key)
        .addCommand(key, false, head)
        .addCommand(undefined, false, wait)
        .addCommand(key, false, tail)
        .execAsPipeline();
    } else {
      replies = await target.client
        .multi()
        .addCommand(false, head)
        .addCommand(false, wait)
        .addCommand(false, tail)
        .execAsPipeline();
    }
    return [replies[0], replies[1], replies[2]];
  }

  async loadScripts(scripts: readonly LuaScript[]): Promise<void> {
    if (this.target.kind !== 'cluster') {
      await Promise.all(scripts.map((s) => this.send(undefined, ['SCRIPT', 'LOAD', s.lua])));
      return;
    }
    const cluster = this.target.client;
    // Straight to each master: v5 would load on one node only.
    const nodes = await Promise.all(
      cluster.masters.map((m) => Promise.resolve(cluster.nodeClient(m))),
    );
    await Promise.all(
      nodes.flatMap((node) => scripts.map((s) => node.sendCommand(['SCRIPT', 'LOAD', s.lua], RAW))),
    );
  }

  async publish(channel: string, message: string, sharded: boolean): Promise<void> {
    // SPUBLISH is routed by its channel, like a key.
    if (sharded) await this.send(channel, ['SPUBLISH', channel, message]);
    else await this.send(undefined, ['PUBLISH', channel, message]);
  }

  get shardedNoticesUnsupported(): string | undefined {
    if (this.target.kind !== 'cluster') return 'not a Cluster';
    // Before 6.1 a cluster silently dropped sharded subscriptions when a slot changed owner
    // (node-redis #3311); 6.1 added getNodeClientForKey along with the fix.
    const fixed =
      typeof (this.target.client as { getNodeClientForKey?: unknown }).getNodeClientForKey ===
      'function';
    return fixed
      ? undefined
      : 'node-redis before 6.1 loses sharded subscriptions when a slot changes owner';
  }

  async ping(): Promise<void> {
    await this.send(undefined, ['PING']);
  }

  async serverHas(command: string): Promise<boolean> {
    const [info] = (await this.send(undefined, ['COMMAND', 'INFO', command])) as unknown[];
    return Array.isArray(info) || (typeof info === 'object' && info !== null);
  }

  async unlinkMatching(pattern: string): Promise<void> {
    if (this.target.kind !== 'cluster') {
      await unlinkOnNode((args) => this.send(args[1], args), pattern);
      return;
    }
    const cluster = this.target.client;
    for (const master of cluster.masters) {
      // Straight to the node: v5 sends a cluster SCAN to a random node, v6 fakes the cursor.
      const node = await cluster.nodeClient(master);
      await unlinkOnNode((args) => node.sendCommand(args, RAW), pattern);
    }
  }

  notifications(sharded: boolean): NotificationConnection {
    const { client } = this.target;
    // A v5 Sentinel cannot be duplicated; it subscribes on a pub/sub connection of its own, so
    // our subscription rides on it and is removed (our listener only) at close.
    if (this.target.kind === 'sentinel' && typeof this.target.client.duplicate !== 'function') {
      return new NodeRedisNotifications(client, false, false);
    }
    return new NodeRedisNotifications((client as NodeRedisStandalone).duplicate(), true, sharded);
  }

  async close(): Promise<void> {
    if (this.owned) await closeClient(this.target.client);
  }

  private send(firstKey: string | undefined, args: string[]): Promise<unknown> {
    const target = this.target;
    switch (target.kind) {
      case 'standalone':
        return target.client.sendCommand(args, RAW);
      case 'cluster':
        return target.client.sendCommand(firstKey, false, args, RAW);
      case 'sentinel':
        return target.client.sendCommand(false, args, RAW);
    }
  }
}

async function unlinkOnNode(
  send: (args: string[]) => Promise<unknown>,
  pattern: string,
): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = (await send(['SCAN', cursor, 'MATCH', pattern, 'COUNT', '500'])) as [
      string,
      string[],
    ];
    cursor = String(next);
    await Promise.all(keys.map((key) => send(['UNLINK', key])));
  } while (cursor !== '0');
}

/** The words of EVALSHA, or EVAL when `byEval`, for `call`. */
function scriptWords(byEval: boolean, { script, keys, args }: ScriptCall): string[] {
  return [
    ...(byEval ? ['EVAL', script.lua] : ['EVALSHA', script.sha]),
    String(script.numberOfKeys),
    ...keys,
    ...args,
  ];
}

/**
 * Notifications on a node-redis connection. node-redis restores subscriptions by itself after a
 * reconnect (and a Sentinel moves them to the new master), so a repeated `subscribe` only syncs:
 * a PING on the same connection answers after the restored subscriptions were confirmed.
 */
class NodeRedisNotifications implements NotificationConnection {
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
    const c = this.connection;
    return typeof c.isReady === 'boolean' ? c.isReady : c.isOpen;
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

/** Graceful close of a ready client; one that is down is destroyed instead of waited on. */
async function closeClient(client: NodeRedisBase & { isReady?: boolean }): Promise<void> {
  if (!client.isOpen) return;
  if (client.isReady === false) {
    await client.destroy();
    return;
  }
  try {
    await client.close();
  } catch {
    if (client.isOpen) await client.destroy();
  }
}
