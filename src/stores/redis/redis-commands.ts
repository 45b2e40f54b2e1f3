import type { ConnectionEvents } from './connection-watch';
import type { LuaScript } from './redis-scripts';

/** Which library made the client. */
export type RedisLibrary = 'ioredis' | 'node-redis';
/** How the client reaches Redis. */
export type RedisTopology = 'standalone' | 'sentinel' | 'cluster';

/**
 * What the Redis store sends, whichever client library and topology carries it: one adapter per
 * library (`ioredis-commands.ts`, `node-redis-commands.ts`; what both do alike is in
 * `client-adapter.ts`) behind this port, so nothing above it learns which client is in use.
 * Arguments are strings (node-redis accepts nothing else).
 */
export interface RedisCommands {
  readonly library: RedisLibrary;
  readonly topology: RedisTopology;
  /**
   * False while the connection is known to be down: the store then fails at once (and the
   * store-error policy applies) instead of letting the client queue the command until it
   * reconnects.
   */
  readonly writable: boolean;
  /** Connects a client the store created; waits for a borrowed client that is still connecting. */
  connect(): Promise<void>;
  /** EVALSHA, falling back to EVAL when the server does not know the script (NOSCRIPT). */
  evalScript(script: LuaScript, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /**
   * The script, then `WAIT replicas timeoutMs` on the same connection (one pipeline; on a
   * Cluster, to the master of the keys' slot). Resolves with the reply and the replicas that
   * acknowledged every write so far.
   */
  evalScriptThenWait(
    call: ScriptCall,
    wait: ReplicaWait,
    /**
     * Run after the WAIT in the same pipeline: whatever server the connection reaches by then
     * (a client may resend the rest of a pipeline to a new master after a failover) answers it.
     */
    then: ScriptCall,
  ): Promise<[unknown, number, unknown]>;
  /** SCRIPT LOAD of each script on every master (at boot: also proves `script|load` is allowed). */
  loadScripts(scripts: readonly LuaScript[]): Promise<void>;
  /** The objects whose 'connect' / 'ready' / 'error' events tell how the command connection fares. */
  readonly connectionEvents: readonly ConnectionEvents[];
  /** Passwords in the client's (or the given) connection options, to keep out of every output. */
  readonly secrets: readonly string[];
  /** PUBLISH, or SPUBLISH (routed to the channel's shard) when `sharded`. */
  publish(channel: string, message: string, sharded: boolean): Promise<void>;
  /**
   * Why this client cannot carry shard-local notices on this topology (undefined: it can).
   * Only a Cluster has them; the server must be Redis 7 (checked by the store).
   */
  readonly shardedNoticesUnsupported: string | undefined;
  ping(): Promise<void>;
  /** True if the server knows `command` (COMMAND INFO). */
  serverHas(command: string): Promise<boolean>;
  /** UNLINKs every key matching `pattern`, on every master of a Cluster. */
  unlinkMatching(pattern: string): Promise<void>;
  /**
   * The connection notifications arrive on; owned and closed by the store. `sharded`: it
   * subscribes with SSUBSCRIBE, on the shard of each channel, and follows the shards through
   * failovers.
   */
  notifications(sharded: boolean): NotificationConnection;
  /** Closes the client if the store created it; a borrowed client stays open. */
  close(): Promise<void>;
}

/** One run of a script: the script, its keys and its other arguments. */
/** `WAIT replicas timeoutMs`: how many replicas must acknowledge, and how long to wait for them. */
export interface ReplicaWait {
  readonly replicas: number;
  readonly timeoutMs: number;
}

export interface ScriptCall {
  readonly script: LuaScript;
  readonly keys: readonly string[];
  readonly args: readonly string[];
}

/** What a {@link NotificationConnection} tells the subscriber. */
export interface NotificationHandlers {
  message(channel: string, message: string): void;
  /** The connection is ready (again): make sure the subscription is in place. */
  ready(): void;
  /** The connection dropped: notices may be missed until the next `ready`. */
  down(): void;
  /** A connection error (the client retries by itself). */
  error(error: unknown): void;
}

/** The dedicated connection (or subscription) that carries notices to this process. */
export interface NotificationConnection {
  /** True while the connection is up. */
  readonly up: boolean;
  /** Attaches the handlers and starts connecting; the client keeps retrying while Redis is down. */
  open(handlers: NotificationHandlers): void;
  /**
   * Subscribes to `channels` (again, after a reconnect: idempotent) and resolves once the server
   * has confirmed every subscription, restored ones included.
   */
  subscribe(channels: readonly string[]): Promise<void>;
  close(): Promise<void>;
}
