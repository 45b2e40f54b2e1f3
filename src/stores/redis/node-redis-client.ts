/**
 * What this library drives of a node-redis (5 or 6) client: the shapes of the three client kinds
 * (`createClient`, `createCluster`, `createSentinel`), how it tells them apart, whether one is up,
 * and how it closes one.
 */

/** A subscription's message listener, as node-redis calls it. */
export type Listener = (message: string, channel: string) => void;
/** A client event's listener. */
export type EventListener = (...args: any[]) => void;

/** What every node-redis (5 or 6) client kind has. */
export interface NodeRedisBase {
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
export interface NodeRedisStandalone extends NodeRedisBase {
  readonly isReady: boolean;
  sendCommand(args: string[], options?: object): Promise<unknown>;
  duplicate(): NodeRedisStandalone;
  multi(): NodeRedisPipeline<[args: string[]]>;
}

/** `createCluster()`: `isReady` only from 6.2. */
export interface NodeRedisCluster extends NodeRedisBase {
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
export interface NodeRedisSentinel extends NodeRedisBase {
  readonly isReady: boolean;
  sendCommand(isReadonly: boolean, args: string[], options?: object): Promise<unknown>;
  duplicate?(): NodeRedisSentinel;
  multi(): NodeRedisPipeline<[isReadonly: boolean, args: string[]]>;
}

export type NodeRedisClientOfKind =
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
export function kindOf(value: unknown): NodeRedisClientOfKind | undefined {
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
export const RAW = { typeMapping: {} };

/**
 * True while the client is ready; a v5 cluster has no `isReady`: open counts (its node clients
 * queue while reconnecting, bounded by commandTimeoutMs like any reply).
 */
export function isUp(client: NodeRedisBase & { readonly isReady?: boolean }): boolean {
  return typeof client.isReady === 'boolean' ? client.isReady : client.isOpen;
}

/** Graceful close of a ready client; one that is down is destroyed instead of waited on. */
export async function closeClient(client: NodeRedisBase & { isReady?: boolean }): Promise<void> {
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
