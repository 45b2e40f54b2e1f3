/**
 * The node-redis adapter of the {@link RedisCommands} port (node-redis 5 or 6: a client, cluster or
 * sentinel): how each client kind sends each command; the notification connection is in
 * `node-redis-notifications.ts`.
 */
import { secretsIn } from '../../redaction';
import { ClientAdapter, whenReady } from './client-adapter';
import type { ConnectionEvents } from './connection-watch';
import {
  closeClient,
  isUp,
  kindOf,
  RAW,
  type NodeRedisClientOfKind,
  type NodeRedisStandalone,
} from './node-redis-client';
import { NodeRedisNotifications } from './node-redis-notifications';
import type {
  NotificationConnection,
  RedisCommands,
  RedisTopology,
  ReplicaWait,
  ScriptCall,
} from './redis-commands';
import type { LuaScript } from './redis-scripts';

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
    return isUp(this.target.client);
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
    { replicas, timeoutMs }: ReplicaWait,
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
