/**
 * The in-memory store's own rules, as a unit, on a clock the test moves: the lazy expiry at its
 * exact bounds, the refresh-ahead window, the sweep every 1024 writes, and notices that arrive on
 * a later tick and stop at close. The store contract checks the behaviour it shares with the
 * Redis store; these are the rules only this store has (found by mutation testing: they survived
 * every contract and flow test).
 */
import { setImmediate as delivered } from 'node:timers/promises';
import { KeyBuilder, NoticeKind, type UserKeys } from '../../src/keys';
import type { StoreNotice } from '../../src/stores/load-store';
import { MemoryLoadStore } from '../../src/stores/memory-load-store';

/** The store's private maps, read to check what the sweep kept (memory held, not answers). */
interface Internals {
  flags: Map<string, number>;
  locks: Map<string, unknown>;
}

describe('MemoryLoadStore', () => {
  let clock: number;
  let store: MemoryLoadStore;
  let notices: StoreNotice[];
  const keys = new KeyBuilder('mem-unit');
  const user = (n = 1): UserKeys => keys.forUser(`user-${n}`);

  beforeEach(async () => {
    clock = 1_000;
    notices = [];
    store = new MemoryLoadStore('memory:unit', () => clock);
    await store.init({ notice: (n) => notices.push(n), resubscribed() {} });
  });
  afterEach(() => store.close());

  it('reports a flag until the instant its TTL ends, rounding the time left down', async () => {
    await store.setLoaded(user(), 1_000);
    clock += 0.4;
    await expect(store.flagTtl(user())).resolves.toBe(999);
    clock = 1_000 + 999.5;
    await expect(store.flagTtl(user())).resolves.toBe(0);
    clock = 2_000;
    await expect(store.flagTtl(user())).resolves.toBeUndefined();
    // Gone for good: moving the clock back does not bring it back.
    clock = 1_500;
    await expect(store.flagTtl(user())).resolves.toBeUndefined();
  });

  it('holds a lock until the instant its TTL ends, and reports the time left rounded up', async () => {
    expect(await store.acquire(user(), 'a', { ttlMs: 1_000, checkFlag: true })).toMatchObject({
      state: 'acquired',
    });
    clock += 0.4;
    expect(await store.acquire(user(), 'b', { ttlMs: 1_000, checkFlag: true })).toEqual({
      state: 'held',
      remainingMs: 1_000,
      holder: 'a',
    });
    clock = 1_999.5;
    expect(await store.acquire(user(), 'b', { ttlMs: 1_000, checkFlag: true })).toMatchObject({
      state: 'held',
      remainingMs: 1,
    });
    clock = 2_000;
    expect(await store.extend(user(), 'a', 1_000)).toBe(false);
    expect(await store.acquire(user(), 'b', { ttlMs: 1_000, checkFlag: true })).toMatchObject({
      state: 'acquired',
    });
  });

  it('extends only a live lock of the same token, to a full TTL from now', async () => {
    await store.acquire(user(), 'a', { ttlMs: 1_000, checkFlag: true });
    clock += 900;
    expect(await store.extend(user(), 'b', 5_000)).toBe(false);
    expect(await store.extend(user(), 'a', 5_000)).toBe(true);
    clock += 4_999;
    expect(await store.acquire(user(), 'b', { ttlMs: 1_000, checkFlag: true })).toEqual({
      state: 'held',
      remainingMs: 1,
      holder: 'a',
    });
  });

  it('answers loaded outside the refresh-ahead window, and grants a refresh inside it', async () => {
    await store.setLoaded(user(), 10_000);
    clock += 7_000; // 3 000 ms left
    expect(
      await store.acquire(user(), 'a', { ttlMs: 1_000, checkFlag: true, refreshAheadMs: 3_000 }),
    ).toEqual({
      state: 'loaded',
      remainingMs: 3_000,
    });
    clock += 1;
    expect(
      await store.acquire(user(), 'a', { ttlMs: 1_000, checkFlag: true, refreshAheadMs: 3_000 }),
    ).toMatchObject({
      state: 'acquired',
      refreshOf: 2_999,
    });
    // While that refresh holds the lock, others are served the flag and told it is under way.
    expect(
      await store.acquire(user(), 'b', { ttlMs: 1_000, checkFlag: true, refreshAheadMs: 3_000 }),
    ).toEqual({
      state: 'loaded',
      remainingMs: 2_999,
      refreshing: true,
    });
  });

  it('locks without looking at the flag when checkFlag is off, and a cold grant is no refresh', async () => {
    await store.setLoaded(user(), 10_000);
    const grant = await store.acquire(user(), 'a', {
      ttlMs: 1_000,
      checkFlag: false,
      refreshAheadMs: 3_000,
    });
    expect(grant).toMatchObject({ state: 'acquired', incarnation: 'memory:unit', generation: '1' });
    expect(grant).not.toHaveProperty('refreshOf');
  });

  it('gives each grant a fencing token above the last and not behind the clock in µs', async () => {
    const tokens: number[] = [];
    for (let n = 1; n <= 5; n++) {
      const grant = await store.acquire(user(n), 'a', { ttlMs: 1_000, checkFlag: true });
      if (grant.state !== 'acquired') throw new Error(`user-${n}: ${grant.state}`);
      tokens.push(grant.fencingToken);
    }
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]);
    expect(tokens[0]).toBeGreaterThanOrEqual((Date.now() - 60_000) * 1000);
  });

  it('finishes a load begun before clearAllLoaded without setting its flag', async () => {
    const grant = await store.acquire(user(), 'a', { ttlMs: 1_000, checkFlag: true });
    const generation = grant.state === 'acquired' ? grant.generation : undefined;
    await store.clearAllLoaded();
    await expect(store.finish(user(), 'a', { loadedTtlMs: 10_000, generation })).resolves.toEqual({
      owned: true,
      committed: false,
    });
    await expect(store.flagTtl(user())).resolves.toBeUndefined();
    // The lock is free, and the next load's generation is the new one.
    expect(await store.acquire(user(), 'b', { ttlMs: 1_000, checkFlag: true })).toMatchObject({
      generation: '2',
    });
    await delivered();
    expect(notices.map((n) => [n.kind, n.tag, n.holder])).toEqual([
      [NoticeKind.ClearedAll, expect.any(String), undefined],
      [NoticeKind.Released, user().tag, 'a'],
    ]);
  });

  it('clears the flag at a finish with no loaded TTL, and sets it with one', async () => {
    await store.setLoaded(user(), 10_000);
    await store.acquire(user(), 'a', { ttlMs: 1_000, checkFlag: false });
    await store.finish(user(), 'a', { loadedTtlMs: 0, generation: '1' });
    await expect(store.flagTtl(user())).resolves.toBeUndefined();
    await store.acquire(user(), 'b', { ttlMs: 1_000, checkFlag: false });
    await store.finish(user(), 'b', { loadedTtlMs: 5_000, generation: '1' });
    await expect(store.flagTtl(user())).resolves.toBe(5_000);
  });

  it('delivers notices on a later tick, in order, with the holder where there is one', async () => {
    const set = store.setLoaded(user(1), 1_000);
    expect(notices).toEqual([]); // not from inside the call: a caller never re-enters itself
    await set;
    await store.clearLoaded(user(1));
    await store.acquire(user(2), 'a', { ttlMs: 1_000, checkFlag: true });
    await store.release(user(2), 'stranger'); // not the owner: no notice
    await store.release(user(2), 'a');
    await store.acquire(user(3), 'b', { ttlMs: 1_000, checkFlag: true });
    await store.finishLock(user(3), 'b');
    await store.publish(NoticeKind.Released, user(4));
    await delivered();
    expect(notices).toEqual([
      { kind: NoticeKind.Loaded, tag: user(1).tag },
      { kind: NoticeKind.Cleared, tag: user(1).tag },
      { kind: NoticeKind.Released, tag: user(2).tag },
      { kind: NoticeKind.Loaded, tag: user(3).tag, holder: 'b' },
      { kind: NoticeKind.Released, tag: user(4).tag },
    ]);
    // finishLock gave the lock back.
    expect(await store.acquire(user(3), 'c', { ttlMs: 1_000, checkFlag: false })).toMatchObject({
      state: 'acquired',
    });
  });

  it('stops notifying at close, and reset frees every lock and flag', async () => {
    await store.setLoaded(user(1), 1_000);
    await store.acquire(user(2), 'a', { ttlMs: 1_000, checkFlag: true });
    await store.reset();
    await expect(store.flagTtl(user(1))).resolves.toBeUndefined();
    expect(await store.acquire(user(2), 'b', { ttlMs: 1_000, checkFlag: true })).toMatchObject({
      state: 'acquired',
    });
    await store.close();
    await store.setLoaded(user(1), 1_000);
    await delivered();
    expect(notices.map((n) => n.kind)).toEqual([NoticeKind.Loaded]); // the one before close
  });

  it('clears one load for every key, leaving the other loads and the unnamed one', async () => {
    const profile = (n: number) => keys.forLoad('profile', `user-${n}`);
    const orders = (n: number) => keys.forLoad('orders', `user-${n}`);
    for (const u of [profile(1), profile(2), orders(1), user(1)]) await store.setLoaded(u, 1_000);
    await store.clearLoad('profile');
    await expect(store.flagTtl(profile(1))).resolves.toBeUndefined();
    await expect(store.flagTtl(profile(2))).resolves.toBeUndefined();
    await expect(store.flagTtl(orders(1))).resolves.toBe(1_000);
    await expect(store.flagTtl(user(1))).resolves.toBe(1_000);
  });

  it('is never degraded, and each store is an incarnation of its own', async () => {
    // The health indicator reads isDegraded: an app on the in-memory store is up, not degraded.
    expect(store.isDegraded).toBe(false);
    expect(store.notificationsLive).toBe(true);
    const [one, two] = [new MemoryLoadStore(), new MemoryLoadStore()];
    const grants = await Promise.all(
      [one, two].map((s) => s.acquire(user(), 'a', { ttlMs: 1_000, checkFlag: true })),
    );
    const incarnations = grants.map((g) => (g.state === 'acquired' ? g.incarnation : g.state));
    expect(incarnations[0]).toMatch(/^memory:[0-9a-f-]{36}$/);
    expect(incarnations[1]).toMatch(/^memory:[0-9a-f-]{36}$/);
    expect(incarnations[0]).not.toBe(incarnations[1]);
    await Promise.all([one.close(), two.close()]);
  });

  it('sweeps expired flags and locks every 1024 writes, keeping the live ones', async () => {
    const internals = store as unknown as Internals;
    // Writes: 2 that will expire, 2 that stay live, then fillers up to the 1023rd write.
    await store.setLoaded(user(1), 100);
    await store.acquire(user(2), 'a', { ttlMs: 100, checkFlag: true });
    await store.setLoaded(user(3), 10_000);
    await store.acquire(user(4), 'b', { ttlMs: 10_000, checkFlag: true });
    for (let n = 5; n <= 1_023; n++) await store.setLoaded(user(n), 100);
    clock += 100; // expired exactly now
    expect(internals.flags.size).toBe(1_021);
    expect(internals.locks.size).toBe(2);
    await store.setLoaded(user(3), 10_000); // the 1024th write
    expect([...internals.flags.keys()]).toEqual([user(3).tag]);
    expect([...internals.locks.keys()]).toEqual([user(4).tag]);
    // And not again until another 1024 writes.
    await store.setLoaded(user(5), 1);
    clock += 1;
    await store.setLoaded(user(6), 1);
    expect(internals.flags.size).toBe(3);
  });
});
