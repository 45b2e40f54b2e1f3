/**
 * What the `redis` option accepts, typed by shape: the published declarations import neither
 * `ioredis` nor `redis`, so an app that has only one of them (or neither) type-checks with
 * `skipLibCheck: false`. Real clients of either library, any supported major, fit these types.
 * The types let through what an index signature lets through; {@link checkRedisSource} refuses
 * at boot what no client library would read as meant.
 */
import { describeValue, LoadStatusConfigError } from './errors';
import { isIoRedisClient } from './stores/redis/ioredis-client';
import { isNodeRedisClient } from './stores/redis/node-redis-client';

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
 * Connection options; the module creates the clients from them and closes them on shutdown.
 * Without `url`: ioredis options (`RedisOptions`, needs ioredis); `sentinels` and `name` connect
 * through Sentinel. With `url`: the address comes from the URL and the other fields are options
 * of the client library that creates the connection (ioredis when installed, else node-redis).
 * Either way the module's own settings (one retry per command, reconnects at most 500 ms apart)
 * apply where these options set nothing.
 */
export interface IoRedisConnectionOptions {
  /**
   * A `redis://` or `rediss://` URL to connect to, with further client options beside it. With
   * ioredis: `new Redis(url, options)`. With node-redis (ioredis not installed):
   * `createClient({ url, ...options })`, so the rest are node-redis options (`socket`,
   * `disableOfflineQueue`, …). The address is given once: `host`, `port`, `path` or `sentinels`
   * (or node-redis' `socket.host` / `socket.port` / `socket.path`) that name another server are
   * refused at boot.
   * @default undefined (ioredis options: `host` and `port`, else 127.0.0.1:6379)
   */
  url?: string;
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
 * Where flags and locks live: a `redis://` / `rediss://` URL, ioredis options, or
 * `{ url, ...options }` (the module creates and closes the connections), or a client you own
 * (ioredis or node-redis, borrowed).
 */
export type RedisSource = string | IoRedisConnectionOptions | IoRedisClient | NodeRedisClient;

const URL_SCHEME = /^rediss?:\/\//;
/** Fields of the options that name the server too: beside `url` they must agree with it. */
const ADDRESS_FIELDS = ['host', 'port', 'path', 'sentinels'] as const;
const SOCKET_ADDRESS_FIELDS = ['host', 'port', 'path'] as const;

/**
 * Checks the `redis` option's shape at boot and returns it: a `redis://` / `rediss://` URL, an
 * ioredis or node-redis client, or a plain options object whose `url`, if any, is such a URL
 * that no address field contradicts. Anything else (an array, a function, a promise, an
 * instance of some other class, a `url` that is no string) is a {@link LoadStatusConfigError}
 * naming `redis` and what was wrong. Whether the client connects is found out later, by the store.
 */
export function checkRedisSource(value: unknown): RedisSource {
  if (typeof value === 'string') {
    checkUrl(value, 'a redis:// or rediss:// URL');
    return value;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LoadStatusConfigError(
      'redis',
      `expected a URL, connection options, or an ioredis or node-redis client, got ${describeValue(value)}`,
    );
  }
  if (isIoRedisClient(value) || isNodeRedisClient(value)) return value;
  if (typeof (value as { then?: unknown }).then === 'function') {
    throw new LoadStatusConfigError(
      'redis',
      'expected a client, got a promise; pass the client itself (for node-redis, the result of await client.connect())',
    );
  }
  const proto: unknown = Object.getPrototypeOf(value);
  // Any realm's Object.prototype (or none): options built in a vm context are options too.
  if (proto !== null && Object.getPrototypeOf(proto) !== null) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    throw new LoadStatusConfigError(
      'redis',
      `expected a URL, connection options (a plain object), or an ioredis or node-redis client, got ${typeof name === 'string' && name !== '' ? `an instance of ${name}` : 'an object with a prototype'} that is none of them`,
    );
  }
  const options = value as IoRedisConnectionOptions;
  if (options.url !== undefined) checkOptionsUrl(options);
  else checkNoSocketAddress(options);
  return options;
}

/** node-redis puts the address in `socket`; without `url` that is ioredis options, which ignore it. */
function checkNoSocketAddress(options: IoRedisConnectionOptions): void {
  const socket: unknown = options.socket;
  if (typeof socket !== 'object' || socket === null) return;
  const field = SOCKET_ADDRESS_FIELDS.find(
    (f) => (socket as Record<string, unknown>)[f] !== undefined,
  );
  if (field === undefined) return;
  throw new LoadStatusConfigError(
    'redis',
    `socket.${field} is a node-redis option, and options without url are ioredis options, which would ignore it; give the address as url (redis://host:port), with the other options beside it`,
  );
}

function checkOptionsUrl(options: IoRedisConnectionOptions): void {
  const { url } = options;
  if (typeof url !== 'string') {
    throw new LoadStatusConfigError(
      'redis',
      `expected url to be a redis:// or rediss:// URL, got ${describeValue(url)}`,
    );
  }
  const parsed = checkUrl(url, 'url to be a redis:// or rediss:// URL');
  const socket: unknown = options.socket;
  const fields: Array<[string, unknown]> = [
    ...ADDRESS_FIELDS.map((f): [string, unknown] => [f, options[f]]),
    ...(typeof socket === 'object' && socket !== null
      ? SOCKET_ADDRESS_FIELDS.map((f): [string, unknown] => [
          `socket.${f}`,
          (socket as Record<string, unknown>)[f],
        ])
      : []),
  ];
  for (const [field, given] of fields) {
    if (given === undefined) continue;
    const problem = contradiction(field, given, parsed);
    if (problem !== undefined) {
      throw new LoadStatusConfigError(
        'redis',
        `url names the server, yet ${field} ${problem}; give the address once (in url, or as options without url)`,
      );
    }
  }
}

/** Why `given` (the value of address field `field`) disagrees with the URL; undefined if not. */
function contradiction(field: string, given: unknown, url: URL): string | undefined {
  const name = field.replace(/^socket\./, '');
  if (name === 'path' || name === 'sentinels') return 'is given too';
  if (name === 'host') {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '') return undefined; // the URL leaves the host to the options
    return typeof given === 'string' && given.toLowerCase() === host.toLowerCase()
      ? undefined
      : `is ${describeValue(given)} (the URL's host is ${JSON.stringify(host)})`;
  }
  const port = url.port === '' ? 6379 : Number(url.port);
  return (typeof given === 'number' || typeof given === 'string') && Number(given) === port
    ? undefined
    : `is ${describeValue(given)} (the URL's port is ${port})`;
}

/** A URL of the scheme Redis clients take, parsed; `expected` words the error. */
function checkUrl(url: string, expected: string): URL {
  if (!URL_SCHEME.test(url)) {
    // Only the scheme is shown when there is one, as the rest may hold a password.
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
    throw new LoadStatusConfigError(
      'redis',
      `expected ${expected}, got ${scheme !== undefined ? `a ${scheme}:// URL` : url.includes('@') ? 'a string without a scheme' : JSON.stringify(url)}`,
    );
  }
  try {
    return new URL(url);
  } catch {
    throw new LoadStatusConfigError(
      'redis',
      `expected ${expected}, got one that does not parse as a URL (check the port and that the password is percent-encoded)`,
    );
  }
}
