/**
 * The least-privilege ACL rule of the README, enforced by Redis itself: an ACL user with keys
 * `~<prefix>:*` and channels `&<prefix>:*` only, and only the documented commands, runs the
 * multi-process stampede, `reset()` and the rest of the flow — and `ACL LOG` shows no denial,
 * so the module touched no key, channel or command outside the rule. (The store contract suite
 * runs under such a user too: test/stores/store-contract.spec.ts.)
 */
import { resetLoadStatus } from '../../src/testing';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { startApp } from '../support/apps';
import { inspector, redisUrl, uniquePrefix } from '../support/env';
import { loaderRunsInRedis, workerPool } from '../multi-process/harness';
import { aclDenials, createAclUser } from './acl';

describe('least-privilege ACL user', () => {
  const pool = workerPool();
  let admin: Redis;
  beforeAll(() => {
    admin = inspector();
  });
  afterAll(() => admin.quit());

  it('runs a 4-process stampede with only the documented rule, and Redis denies nothing', async () => {
    const keyPrefix = uniquePrefix('acl-mp');
    const { url, username, remove } = await createAclUser(admin, redisUrl(), keyPrefix);
    try {
      const workers = await pool.start(4, {
        keyPrefix,
        redisUrl: url,
        counterRedisUrl: redisUrl(), // the test's own counter is not the module's business
      });
      const reports = await pool.runTogether(workers, {
        userIds: ['u1', 'u2', 'u3'],
        callersPerUser: 20,
        loadMs: 100,
        mode: 'ensureLoaded',
      });
      const callers = reports.flatMap((r) => r.callers);
      expect(callers).toHaveLength(4 * 3 * 20);
      expect(callers.filter((c) => !c.ok)).toEqual([]);
      expect(await loaderRunsInRedis(admin, keyPrefix)).toEqual({ u1: 1, u2: 1, u3: 1 });
      await pool.closeAll();
      expect(await aclDenials(admin, username)).toEqual([]);
    } finally {
      await remove();
    }
  });

  it('runs every public operation, reset() included, and Redis denies nothing', async () => {
    const keyPrefix = uniquePrefix('acl-ops');
    const { url, username, remove } = await createAclUser(admin, redisUrl(), keyPrefix);
    const app = await startApp({ redis: url, keyPrefix });
    try {
      await app.lock.ensureLoaded('a', () => Promise.resolve(1));
      expect(await app.status.isLoaded('a')).toBe(true);
      await app.status.setLoaded('b', 60_000);
      await app.status.clearLoaded('b');
      expect(await app.status.waitForLoad('c', { timeoutMs: 50 })).toBe(false);
      const lock = await app.lock.acquireLoadLock(`d-${randomUUID()}`);
      expect(await lock!.extend()).toBe(true);
      expect(await lock!.release()).toBe(true);
      await resetLoadStatus(app.status);
      expect(await app.status.isLoaded('a')).toBe(false);
    } finally {
      await app.close();
    }
    expect(await aclDenials(admin, username)).toEqual([]);
    await remove();
  });
});
