/**
 * The ioredis adapter of the {@link RedisCommands} port (ioredis 5 or 6 and iovalkey: standalone,
 * Sentinel, Cluster): how this client sends each command; the notification connections are in
 * `ioredis-notifications.ts` and `ioredis-sharded-notifications.ts`.
 */
import { secretsIn } from '../../redaction';
import { ClientAdapter, whenReady } from './client-adapter';
import type { ConnectionEvents } from './connection-watch';
import { isIoCluster, quit, type IoRedisLike } from './ioredis-client';
import { IoRedisNotifications } from './ioredis-notifications';
import { IoRedisShardedNotifications } from './ioredis-sharded-notifications';
import type {
  NotificationConnection,
  RedisCommands,
  RedisTopology,
  ReplicaWait,
  ScriptCall,
} from './redis-commands';
import type { LuaScript } from './redis-scripts';

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
    wait: ReplicaWait,
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
    await Promise.all(
      this.masters().flatMap((node) => scripts.map((s) => node.script('LOAD', s.lua))),
    );
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
    for (const node of this.masters()) {
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
      : 'this client has no sharded subscribers (ioredis 5.6 or later has; iovalkey 0.4 has not)';
  }

  notifications(sharded: boolean): NotificationConnection {
    return sharded
      ? new IoRedisShardedNotifications(this.client)
      : new IoRedisNotifications(this.client);
  }

  async close(): Promise<void> {
    if (this.owned) await quit(this.client);
  }

  /** Each master of a Cluster, else the client. */
  private masters(): IoRedisLike[] {
    return isIoCluster(this.client) ? this.client.nodes!('master') : [this.client];
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
