/**
 * A finish whose reply is late: the holder's command deadline fires, the flow retries the finish
 * (riding out what looks like an outage), and the first attempt did run on the server after
 * all. The retry must report what that first attempt did — the lease was ours, the load
 * committed — not "lease lost" because the lock it finds is gone (it deleted it itself).
 *
 * `CLIENT PAUSE … WRITE` holds every script (and so the finish) on the server without losing
 * any state or connection; its OK means the pause is in effect, so the finish sent after it is
 * held for certain, and the server runs the held commands in order when it ends.
 */
import type { LoadStatusEvent } from '../../src';
import { deferred } from '../support/apps';
import { uniquePrefix, userKey } from '../support/env';
import { recordEvents, whenEvent } from '../support/events';
import { bootWithLogs, type LoggedApp } from '../support/logged-app';
import { suiteRedis } from '../support/suite-redis';

const started = (e: LoadStatusEvent) => e.type === 'load-started';
const finishFailed = (e: LoadStatusEvent) => e.type === 'store-error' && e.operation === 'finish';

describe('a finish retried after a timeout whose first attempt did run', () => {
  const redis = suiteRedis();
  let app: LoggedApp;
  let prefix: string;
  beforeEach(async () => {
    prefix = uniquePrefix('finish-retry');
    app = await bootWithLogs({
      redis: redis.server.url,
      keyPrefix: prefix,
      commandTimeoutMs: 100,
      pollIntervalMs: 20,
      outageGraceMs: 10_000,
    });
  });
  afterEach(() => app.close());

  it('reports the lease as kept and the load as committed: no lease-lost, no warning', async () => {
    const events = recordEvents(app);
    const release = deferred<string>();
    const loadStarted = whenEvent(app, started);
    // No keep-alive tick during the test: only the finish can see the lock.
    const loading = app.lock.ensureLoaded('u', () => release.promise, { lockTtlMs: 60_000 });
    await loadStarted;
    // Every script waits 600 ms from here; the finish's 100 ms deadline fires first.
    await redis.inspect.call('CLIENT', 'PAUSE', '600', 'WRITE');
    const timedOut = whenEvent(app, finishFailed, 2);
    release.resolve('value');
    await timedOut; // the first attempt and at least one retry are held on the server
    await expect(loading).resolves.toMatchObject({ status: 'loaded', value: 'value' });

    expect(await redis.inspect.exists(userKey(prefix, 'u', 'lock'))).toBe(0);
    expect(await redis.inspect.pttl(userKey(prefix, 'u', 'loaded'))).toBeGreaterThan(3_500_000);
    const types = events.map((e) => e.type).filter((t) => t !== 'store-error');
    expect(types).not.toContain('lease-lost');
    expect(events.find((e) => e.type === 'lock-released')).toMatchObject({ owned: true });
    expect(types.slice(-3)).toEqual(['store-recovered', 'lock-released', 'load-succeeded']);
    expect(app.lines.filter((l) => l.level === 'warn').map((l) => l.message)).not.toContainEqual(
      expect.stringMatching(/lease for user "u" was lost/),
    );
  });

  it('keeps the marker at least as long as the flow may retry a finish', async () => {
    // 30 s at least; with a longer outageGraceMs, that grace and two command timeouts.
    const marker = () => redis.inspect.pttl(userKey(prefix, 'u', 'finished'));
    await app.lock.ensureLoaded('u', () => Promise.resolve('value'));
    expect(await marker()).toBeGreaterThan(29_000);
    expect(await marker()).toBeLessThanOrEqual(30_000);
    const longGrace = await bootWithLogs({
      redis: redis.server.url,
      keyPrefix: `${prefix}-long`,
      commandTimeoutMs: 2_000,
      outageGraceMs: 60_000,
    });
    try {
      await longGrace.lock.ensureLoaded('u', () => Promise.resolve('value'));
      const pttl = await redis.inspect.pttl(userKey(`${prefix}-long`, 'u', 'finished'));
      expect(pttl).toBeGreaterThan(63_000);
      expect(pttl).toBeLessThanOrEqual(64_000);
    } finally {
      await longGrace.close();
    }
  });
});
