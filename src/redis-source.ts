/**
 * What the `redis` option accepts, typed by shape: the published declarations import neither
 * `ioredis` nor `redis`, so an app that has only one of them (or neither) type-checks with
 * `skipLibCheck: false`. Real clients of either library, any supported major, fit these types.
 */

/**
 * An ioredis (5 or 6) `Redis` or `Cluster`, including a `Redis` that connects through Sentinel.
 * Borrowed: the module never closes it. Its subscriber is a duplicate the module owns.
 */
export interface IoRedisClient {
  readonly status: string;
  duplicate(...args: any[]): unknown;
  evalsha(...args: any[]): unknown;
  call(...args: any[]): unknown;
}

/**
 * A node-redis (`redis` 5 or 6) client made by `createClient()`, `createCluster()` or
 * `createSentinel()`, already connected (`await client.connect()`). Borrowed: the module never
 * closes it. Its subscriber is a duplicate the module owns (a v5 Sentinel, which cannot be
 * duplicated, carries the module's subscription on its own pub/sub connection).
 */
export interface NodeRedisClient {
  readonly isOpen: boolean;
  sendCommand(...args: any[]): unknown;
  evalSha(...args: any[]): unknown;
}

/**
 * ioredis connection options (`RedisOptions`); `sentinels` and `name` connect through Sentinel.
 * The module creates the clients from them and closes them on shutdown.
 */
export interface IoRedisConnectionOptions {
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: object;
  sentinels?: ReadonlyArray<{ host?: string; port?: number }>;
  name?: string;
  connectionName?: string;
  [option: string]: any;
}

/**
 * Where flags and locks live: a `redis://` / `rediss://` URL or ioredis options (the module
 * creates and closes the connections), or a client you own (ioredis or node-redis, borrowed).
 */
export type RedisSource = string | IoRedisConnectionOptions | IoRedisClient | NodeRedisClient;
