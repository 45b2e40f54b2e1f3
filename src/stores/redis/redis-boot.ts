import type { KeyBuilder } from '../../keys';
import type { StoreListener } from '../load-store';
import type { ConnectionWatch } from './connection-watch';
import type { RedisNoticeRoute } from './notice-route';
import type { RedisCommands } from './redis-commands';
import { REDIS_SCRIPTS as S } from './redis-scripts';
import type { RedisSubscriber } from './redis-subscriber';

/** What a Redis store's boot works with: the store's own parts. */
export interface RedisBootParts {
  readonly redis: RedisCommands;
  readonly watch: ConnectionWatch;
  readonly subscriber: RedisSubscriber;
  readonly route: RedisNoticeRoute;
  /** `probeKey`: the key the probe script writes (and deletes at once). */
  readonly keys: Pick<KeyBuilder, 'probeKey'>;
  /** Throws unless a command can be sent now (the store's own check). */
  readonly assertConnected: () => void;
}

/**
 * Connects, subscribes and probes what the flow needs, so a refusal (credentials, ACL, TLS)
 * is found now and not by the first user; rejects at once when the server refuses.
 */
export async function bootRedisStore(
  parts: RedisBootParts,
  listener: StoreListener,
): Promise<void> {
  const { redis, watch, subscriber, route } = parts;
  const refused = watch.rejected;
  let unreachable: unknown;
  try {
    // A borrowed client still connecting is waited for (bounded by the caller), so the first
    // commands are not failed fast as if Redis were down.
    await Promise.race([redis.connect(), refused]);
    await route.choose();
  } catch (error) {
    // The client's own reason may say only that it gave up ('Connection is closed.'); the
    // connection's last error says why (ECONNREFUSED, a DNS failure, a timeout).
    unreachable = watch.lastError ?? error;
  }
  // Started whatever happened, so it keeps trying while Redis is down (and gives up at close).
  const subscribed = subscriber.start(redis.notifications(route.sharded), route.channels, listener);
  subscribed.catch(() => undefined); // awaited below; rejections are reported there
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrown as it came
  if (unreachable !== undefined) throw unreachable;
  await Promise.race([subscribed, refused]);
  await probe(parts);
}

/** Auth, every script (loaded, and every command they run), and publishing on the channel. */
async function probe({ redis, route, keys, assertConnected }: RedisBootParts): Promise<void> {
  assertConnected();
  await redis.ping();
  await redis.loadScripts(Object.values(S));
  await redis.evalScript(S.probe, [keys.probeKey], route.first('P:%probe'));
}
