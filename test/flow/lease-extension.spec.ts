/**
 * How long an extended lease lasts, read on the server (the lock key's PTTL): `extend(ttlMs)`
 * renews the lease to `ttlMs` milliseconds from now, `extend()` to the TTL the lock was taken
 * with (the module's `lockTtlMs` by default), and the keep-alive of a running load renews it to
 * the call's `lockTtlMs`. A unit slip (seconds for milliseconds, or the other way) shows as a
 * lease a thousand times too short or too long. One real Redis for the suite, with each client
 * the module drives.
 */
import { startAppOn, type TestApp } from '../support/apps';
import { uniquePrefix, userKey } from '../support/env';
import { whenEvent } from '../support/events';
import { CLIENT_FLAVOURS, createTestRedisClient } from '../support/redis-clients';
import { suiteRedis } from '../support/suite-redis';

/** The module's lease. */
const LOCK_TTL_MS = 10_000;
/** What a round trip and a PTTL read may take off a lease here, at most (a busy machine). */
const SLACK_MS = 500;

const redis = suiteRedis();

describe.each(CLIENT_FLAVOURS)('lease extension on the server: %s', (flavour) => {
  let app: TestApp;
  let keyPrefix: string;
  beforeAll(async () => {
    keyPrefix = uniquePrefix('lease-ext');
    app = await startAppOn(await createTestRedisClient(flavour, redis.server.url), {
      keyPrefix,
      lockTtlMs: LOCK_TTL_MS,
    });
  });
  afterAll(() => app.close());

  const leaseLeft = (user: string) => redis.inspect.pttl(userKey(keyPrefix, user, 'lock'));

  it('extend(ttlMs) renews the lease to ttlMs milliseconds, and extend() to lockTtlMs', async () => {
    const lock = (await app.lock.acquireLoadLock('u'))!;
    expect(lock).not.toBeNull();
    const taken = await leaseLeft('u');
    expect(taken).toBeGreaterThan(LOCK_TTL_MS - SLACK_MS);
    expect(taken).toBeLessThanOrEqual(LOCK_TTL_MS);

    expect(await lock.extend(2_000)).toBe(true);
    const shortened = await leaseLeft('u');
    expect(shortened).toBeGreaterThan(2_000 - SLACK_MS);
    expect(shortened).toBeLessThanOrEqual(2_000);

    expect(await lock.extend(30_000)).toBe(true);
    const lengthened = await leaseLeft('u');
    expect(lengthened).toBeGreaterThan(30_000 - SLACK_MS);
    expect(lengthened).toBeLessThanOrEqual(30_000);

    expect(await lock.extend()).toBe(true);
    const renewed = await leaseLeft('u');
    expect(renewed).toBeGreaterThan(LOCK_TTL_MS - SLACK_MS);
    expect(renewed).toBeLessThanOrEqual(LOCK_TTL_MS);
    expect(await lock.release()).toBe(true);
  });

  it('extend() renews a lock taken with its own TTL to that TTL', async () => {
    const lock = (await app.lock.acquireLoadLock('v', { ttlMs: 3_000 }))!;
    expect(await lock.extend(60_000)).toBe(true);
    expect(await leaseLeft('v')).toBeGreaterThan(60_000 - SLACK_MS);
    expect(await lock.extend()).toBe(true);
    const renewed = await leaseLeft('v');
    expect(renewed).toBeGreaterThan(3_000 - SLACK_MS);
    expect(renewed).toBeLessThanOrEqual(3_000);
    expect(await lock.release()).toBe(true);
  });

  it("the keep-alive of a running load renews the lease to the call's lockTtlMs", async () => {
    // Renewed every third of the lease: at the first renewal two thirds (2 s) would be left
    // without it, a full lease (3 s) with it.
    const lockTtlMs = 3_000;
    const renewed = whenEvent(app, (e) => e.type === 'lease-extended' && e.userId === 'w');
    let leftAtRenewal: number | undefined;
    const outcome = await app.lock.ensureLoaded(
      'w',
      async () => {
        await renewed;
        leftAtRenewal = await leaseLeft('w');
      },
      { lockTtlMs },
    );
    expect(outcome).toMatchObject({ status: 'loaded' });
    expect(leftAtRenewal).toBeGreaterThan(lockTtlMs - SLACK_MS);
    expect(leftAtRenewal).toBeLessThanOrEqual(lockTtlMs);
  });
});
