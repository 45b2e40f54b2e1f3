/**
 * What this library drives of an ioredis (5 or 6, or iovalkey) client: the shape of a `Redis` or
 * `Cluster` it uses, how it tells one (and a Cluster) apart, and how it closes a connection.
 */

/** The part of an ioredis (5 or 6) `Redis` or `Cluster` the ioredis adapter uses. */
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

/** An ioredis pipeline, as the script + WAIT pipeline fills it. */
export interface IoRedisPipeline {
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

/** True for an ioredis `Cluster` (its nodes reachable one by one). */
export function isIoCluster(client: IoRedisLike): boolean {
  return client.isCluster === true && typeof client.nodes === 'function';
}

/** How long a QUIT may take before the connection is dropped instead. */
const QUIT_WITHIN_MS = 1_000;

/**
 * QUIT politely, for at most {@link QUIT_WITHIN_MS}: a connection that is down, or whose server
 * does not answer (a network that drops packets), is disconnected instead of waited on.
 */
export async function quit(client: IoRedisLike): Promise<void> {
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
