import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import { ALL_USERS_TAG, KeyBuilder, NoticeKind, type UserKeys } from '../../src/keys';
import type {
  AcquireRequest,
  AcquireResult,
  LoadStore,
  NoticePath,
  StoreListener,
  StoreNotice,
} from '../../src/stores/load-store';
import KeyvRedis from '@keyv/redis';
import { createCache } from 'cache-manager';
import { createCache as createCache6 } from 'cache-manager6';
import { Keyv } from 'keyv';
import { CacheFlagLoadStore } from '../../src/stores/cache-flag-load-store';
import { MemoryLoadStore } from '../../src/stores/memory-load-store';
import { RedisLoadStore } from '../../src/stores/redis/redis-load-store';
import { IoRedisCommands } from '../../src/stores/redis/ioredis-commands';
import { NodeRedisCommands } from '../../src/stores/redis/node-redis-commands';
import { inspector, redisUrl, sleep, uniquePrefix } from '../support/env';
import {
  CLUSTER_FLAVOURS,
  createTestRedisClient,
  createTopologyClient,
  IOVALKEY_TOPOLOGY_FLAVOURS,
  isClusterFlavour,
  NODE_REDIS_FLAVOURS,
  SENTINEL_FLAVOURS,
  type ClientFlavour,
  type TestRedisClient,
  type TopologyFlavour,
} from '../support/redis-clients';
import { RedisClusterTopology, RedisSentinelTopology } from '../support/redis-topologies';
import type { MutationTopologies } from '../support/mutation-run';
import { aclDenials, createAclUser } from '../managed/acl';

/** A cache-flag store as a fail-closed module with the default command timeout runs it. */
const CACHE_STORE = {
  onStoreError: 'fail-closed',
  commandTimeoutMs: 1_000,
  generationKey: 'contract:%gen:generation',
} as const;

/** Records notices; `next(kind)` resolves with the next notice of that kind. */
class Recorder implements StoreListener {
  readonly notices: StoreNotice[] = [];
  private waiting: Array<{ kind: string; resolve: (n: StoreNotice) => void }> = [];
  notice(notice: StoreNotice): void {
    this.notices.push(notice);
    this.waiting = this.waiting.filter((w) =>
      w.kind === notice.kind ? (w.resolve(notice), false) : true,
    );
  }
  resubscribed(): void {}
  next(kind: string): Promise<StoreNotice> {
    return new Promise((resolve) => this.waiting.push({ kind, resolve }));
  }
}

/** A listener that ignores everything. */
const quiet = (): StoreListener => ({ notice() {}, resubscribed() {} });

interface Harness {
  /** Two stores that share state, like two processes (the memory store is one process: the same instance). */
  a: LoadStore;
  b: LoadStore;
  recorderA: Recorder;
  recorderB: Recorder;
  keys: KeyBuilder;
}

/**
 * What the running test's harness opened, closed newest first after the test. A resource is
 * registered the moment it exists, so a setup that fails or outlives its hook's timeout (a slow
 * first `require`, a store whose init waits) still has what it opened closed, instead of leaving
 * a client that reconnects for ever and keeps Jest from exiting.
 */
const opened: Array<() => Promise<unknown>> = [];
function closeWithTest<T>(resource: T, close: (resource: T) => Promise<unknown>): T {
  opened.push(() => close(resource));
  return resource;
}
async function closeOpened(): Promise<void> {
  // Each is closed even if one before it failed; the first failure fails the test.
  const failures: Error[] = [];
  for (let close; (close = opened.pop());)
    await close().catch((error: unknown) => failures.push(error as Error));
  if (failures.length > 0) throw failures[0];
}
// Anything a timed-out setup registered after its test's afterEach ran.
afterAll(closeOpened);

/** One store seen by both sides: a single process (the memory-backed adapters). */
async function oneProcess(store: LoadStore, keys: KeyBuilder): Promise<Harness> {
  const recorder = new Recorder();
  await closeWithTest(store, (s) => s.close()).init(recorder);
  return { a: store, b: store, recorderA: recorder, recorderB: recorder, keys };
}

/** Two stores sharing Redis, like two processes, each with its own connections. */
async function twoProcesses([a, b]: [LoadStore, LoadStore], keys: KeyBuilder): Promise<Harness> {
  const recorderA = new Recorder();
  const recorderB = new Recorder();
  for (const store of [a, b]) closeWithTest(store, (s) => s.close());
  await Promise.all([a.init(recorderA), b.init(recorderB)]);
  return { a, b, recorderA, recorderB, keys };
}

const redisStore = (keys: KeyBuilder) => new RedisLoadStore(redisUrl(), keys);

/** A test client, closed with the test. */
const testClient = (client: Promise<TestRedisClient>) =>
  client.then((c) => closeWithTest(c, (c) => c.close()));

/**
 * cache-manager flags over in-memory Keyv (one process) or @keyv/redis (two connections), with
 * cache-manager 7, or 6 (whose misses are null).
 */
function cacheManagerHarness(flags: 'memory' | 'redis', major: 6 | 7 = 7): Promise<Harness> {
  const keys = new KeyBuilder(uniquePrefix(`cm${major}-${flags}`));
  const makeCache = () =>
    closeWithTest(
      (major === 6 ? createCache6 : createCache)({
        stores: [new Keyv({ store: flags === 'redis' ? new KeyvRedis(redisUrl()) : new Map() })],
      }),
      (cache) => cache.disconnect(),
    );
  if (flags === 'memory') {
    return oneProcess(
      new CacheFlagLoadStore(makeCache(), new MemoryLoadStore(), CACHE_STORE),
      keys,
    );
  }
  return twoProcesses(
    [
      new CacheFlagLoadStore(makeCache(), redisStore(keys), CACHE_STORE),
      new CacheFlagLoadStore(makeCache(), redisStore(keys), CACHE_STORE),
    ],
    keys,
  );
}

const adapters: Array<[string, () => Promise<Harness>]> = [
  ['memory', () => oneProcess(new MemoryLoadStore(), new KeyBuilder(uniquePrefix('mem')))],
  [
    'redis',
    () => {
      const keys = new KeyBuilder(uniquePrefix('redis'));
      return twoProcesses([redisStore(keys), redisStore(keys)], keys);
    },
  ],
];
/**
 * Two stores over two borrowed clients: node-redis (v5 speaks RESP2 by default, v6 RESP3), or
 * iovalkey.
 */
async function borrowedClientHarness(flavour: ClientFlavour): Promise<Harness> {
  const keys = new KeyBuilder(uniquePrefix(flavour));
  const clients = await Promise.all([
    testClient(createTestRedisClient(flavour, redisUrl())),
    testClient(createTestRedisClient(flavour, redisUrl())),
  ]);
  return twoProcesses(
    [new RedisLoadStore(clients[0].source, keys), new RedisLoadStore(clients[1].source, keys)],
    keys,
  );
}
for (const flavour of [...NODE_REDIS_FLAVOURS, 'iovalkey-client'] as const) {
  adapters.push([`redis (borrowed ${flavour} client)`, () => borrowedClientHarness(flavour)]);
}

/**
 * Two stores logged in as an ACL user restricted to the README's least-privilege rule for the
 * prefix; each test fails if `ACL LOG` recorded any denial for that user.
 */
async function leastPrivilegeHarness(): Promise<Harness> {
  const keys = new KeyBuilder(uniquePrefix('acl'));
  const admin = closeWithTest(inspector(), (a) => a.quit());
  const { url, username, remove } = await createAclUser(admin, redisUrl(), keys.prefix);
  closeWithTest(remove, (remove) => remove());
  // Checked once the stores are closed (closing sends commands too), before the user is removed.
  closeWithTest(username, async (username) =>
    expect(await aclDenials(admin, username)).toEqual([]),
  );
  return twoProcesses([new RedisLoadStore(url, keys), new RedisLoadStore(url, keys)], keys);
}
adapters.push(['redis (least-privilege ACL user)', leastPrivilegeHarness]);

// One Cluster and one Sentinel group for the whole file, started on first use.
let cluster: Promise<RedisClusterTopology> | undefined;
let sentinel: Promise<RedisSentinelTopology> | undefined;
afterAll(async () => {
  await Promise.all([cluster?.then((c) => c.stop()), sentinel?.then((s) => s.stop())]);
});

/** In a mutation run (`npm run test:mutation`): the topologies it started once for all mutants. */
const shared = process.env.LOAD_STATUS_MUTATION_TOPOLOGIES
  ? (JSON.parse(process.env.LOAD_STATUS_MUTATION_TOPOLOGIES) as MutationTopologies)
  : undefined;

/** Two stores over two clients of a real Cluster or Sentinel group. */
async function topologyHarness(flavour: TopologyFlavour): Promise<Harness> {
  const nodes = isClusterFlavour(flavour)
    ? (shared?.cluster ?? (await (cluster ??= RedisClusterTopology.start())).startupNodes)
    : (shared?.sentinels ?? (await (sentinel ??= RedisSentinelTopology.start())).sentinelAddresses);
  const keys = new KeyBuilder(uniquePrefix(flavour));
  const clients = await Promise.all([
    testClient(createTopologyClient(flavour, nodes)),
    testClient(createTopologyClient(flavour, nodes)),
  ]);
  return twoProcesses(
    [new RedisLoadStore(clients[0].source, keys), new RedisLoadStore(clients[1].source, keys)],
    keys,
  );
}
// Always in npm test; in a mutation run (jest.mutation.config.js) only on the topologies
// `npm run test:mutation` started once: each of thousands of runs would start them again.
const topologies =
  process.env.LOAD_STATUS_MUTATION_RUN === '1' && !shared
    ? []
    : [...CLUSTER_FLAVOURS, ...SENTINEL_FLAVOURS, ...IOVALKEY_TOPOLOGY_FLAVOURS];
for (const flavour of topologies) {
  adapters.push([`redis (${flavour})`, () => topologyHarness(flavour)]);
}

/** How each topology client's notices travel (shard-local where server and client can), and the
 * line each store logs for it at boot. */
const SHARDED = 'debug [LoadStatus] Cluster: notices are shard-local (SPUBLISH)';
const NODE_REDIS_5_REASON =
  'node-redis before 6.1 loses sharded subscriptions when a slot changes owner';
const IOVALKEY_REASON =
  'this client has no sharded subscribers (ioredis 5.6 or later has; iovalkey 0.4 has not)';
const NOTICE_PATHS: Record<TopologyFlavour, { path: NoticePath; logged?: string }> = {
  'ioredis-cluster': { path: { mode: 'sharded' }, logged: SHARDED },
  'node-redis-5-cluster': {
    path: { mode: 'classic', reason: NODE_REDIS_5_REASON },
    logged: `warn [LoadStatus] Cluster: notices use classic pub/sub across the cluster bus: ${NODE_REDIS_5_REASON}`,
  },
  'node-redis-6-cluster': { path: { mode: 'sharded' }, logged: SHARDED },
  'ioredis-sentinel-options': { path: { mode: 'classic' } },
  'node-redis-5-sentinel': { path: { mode: 'classic' } },
  'node-redis-6-sentinel': { path: { mode: 'classic' } },
  // iovalkey forked ioredis before its sharded subscribers (5.6): classic pub/sub, which a
  // failover cannot strand.
  'iovalkey-cluster': {
    path: { mode: 'classic', reason: IOVALKEY_REASON },
    logged: `warn [LoadStatus] Cluster: notices use classic pub/sub across the cluster bus: ${IOVALKEY_REASON}`,
  },
  'iovalkey-sentinel': { path: { mode: 'classic' } },
};

describe.each(topologies)('store contract: the notice path on %s', (flavour) => {
  afterEach(closeOpened);

  it('is shard-local on a Cluster whose client can carry it, else classic pub/sub (saying why on a Cluster, in the log)', async () => {
    const logged: string[] = [];
    const record = (level: 'warn' | 'debug') =>
      jest.spyOn(Logger.prototype, level).mockImplementation(function (
        this: Logger,
        message: unknown,
        ..._rest: unknown[]
      ) {
        const { context } = this as unknown as { context?: string };
        const text = String(message);
        if (text.startsWith('Cluster:')) logged.push(`${level} [${context ?? ''}] ${text}`);
      });
    const spies = [record('warn'), record('debug')];
    try {
      const h = await topologyHarness(flavour);
      const { path, logged: line } = NOTICE_PATHS[flavour];
      expect([h.a.notices, h.b.notices]).toEqual([path, path]);
      // One line per store, on a Cluster only.
      expect(logged).toEqual(line ? [line, line] : []);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });
});

describe.each(topologies.filter(isClusterFlavour))(
  'store contract: the notice path on %s whose server lacks SPUBLISH (Redis 6, simulated)',
  (flavour) => {
    afterEach(closeOpened);

    it('is classic pub/sub, saying why', async () => {
      // The suite has Redis 7 only: the one answer that differs on Redis 6 is made up here.
      const spies = [IoRedisCommands, NodeRedisCommands].map((c) =>
        jest
          .spyOn(c.prototype, 'serverHas')
          .mockImplementation((command) => Promise.resolve(command !== 'SPUBLISH')),
      );
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      try {
        const h = await topologyHarness(flavour);
        // A client that cannot carry sharded notices says so first (node-redis 5).
        const reason =
          NOTICE_PATHS[flavour].path.reason ??
          'the server has no sharded pub/sub (Redis 7 or later has)';
        expect([h.a.notices, h.b.notices]).toEqual([
          { mode: 'classic', reason },
          { mode: 'classic', reason },
        ]);
        expect(warn.mock.calls.map(([m]) => String(m))).toContain(
          `Cluster: notices use classic pub/sub across the cluster bus: ${reason}`,
        );
      } finally {
        for (const spy of [...spies, warn]) spy.mockRestore();
      }
    });
  },
);

/**
 * `clearAllLoaded` on the stores that hold the lock state (cache-manager flags clear by their own
 * generation, covered by their unit spec): every group moves on, in one script per group, and the
 * other store hears it — on a Cluster through each group's shard channel.
 */
describe.each([...adapters])('store contract: clearAllLoaded on %s', (_name, create) => {
  let h: Harness;
  beforeEach(async () => (h = await create()));
  afterEach(closeOpened);

  it('clears the flags of users in many groups, the other store hears it, and later flags count', async () => {
    const users = Array.from({ length: 40 }, (_, i) => h.keys.forUser(`all-${i}`));
    expect(new Set(users.map((u) => u.generation)).size).toBeGreaterThan(20); // many groups
    await Promise.all(users.map((u) => h.a.setLoaded(u, 60_000)));
    const heard = h.recorderB.next(NoticeKind.ClearedAll);
    await h.a.clearAllLoaded();
    expect((await heard).tag).toBe(ALL_USERS_TAG);
    expect(await Promise.all(users.map((u) => h.b.flagTtl(u)))).toEqual(users.map(() => undefined));
    await h.a.setLoaded(users[0], 60_000);
    expect(await h.b.flagTtl(users[0])).toBeGreaterThan(59_000);
  });
});

/**
 * Named loads on the stores that hold the lock state: the registry of load names every process
 * reads (`clearEveryLoad`), and clearing every flag of one load (`clearAllLoaded({ name })`) —
 * on a Cluster across every master, under the least-privilege ACL rule with no denial.
 */
describe.each([...adapters])('store contract: named loads on %s', (_name, create) => {
  let h: Harness;
  beforeEach(async () => (h = await create()));
  afterEach(closeOpened);

  it('registers load names once each, in order, and the other store reads them', async () => {
    const names = ['servers', 'a|b', 'line\nbreak', 'gl*b', 'ünï 😀'];
    for (const name of names) await h.a.registerLoad(name);
    await Promise.all([h.a.registerLoad('servers'), h.b.registerLoad('gl*b')]);
    expect(await h.b.loadNames()).toEqual(names);
  });

  it("clears every flag of one load, in many groups, and leaves other loads' flags", async () => {
    const keysOf = (load: string) =>
      Array.from({ length: 30 }, (_, i) => h.keys.forLoad(load, `k-${i}`));
    const [cleared, others] = [keysOf('a*'), [...keysOf('ab'), ...keysOf('a'), ...keysOf('x|a*')]];
    const unnamed = Array.from({ length: 5 }, (_, i) => h.keys.forUser(`a*|k-${i}`));
    await Promise.all([...cleared, ...others, ...unnamed].map((k) => h.a.setLoaded(k, 60_000)));
    const heard = h.recorderB.next(NoticeKind.ClearedAll);
    await h.a.clearLoad('a*');
    await heard;
    expect(await Promise.all(cleared.map((k) => h.b.flagTtl(k)))).toEqual(
      cleared.map(() => undefined),
    );
    const kept = await Promise.all([...others, ...unnamed].map((k) => h.b.flagTtl(k)));
    expect(kept.filter((ttl) => ttl === undefined)).toEqual([]);
  });
});

adapters.push(['cache-manager (in-memory Keyv)', () => cacheManagerHarness('memory')]);
adapters.push(['cache-manager (@keyv/redis)', () => cacheManagerHarness('redis')]);
adapters.push(['cache-manager 6 (in-memory Keyv)', () => cacheManagerHarness('memory', 6)]);

describe.each(adapters)('store contract: %s', (_name, create) => {
  let h: Harness;
  let user: UserKeys;
  let n = 0;
  beforeEach(async () => {
    h = await create();
    user = h.keys.forUser(`user-${++n}`);
  });
  afterEach(closeOpened);

  it('gives the lock to exactly one of many concurrent acquirers', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 ? h.a : h.b).acquire(user, `token-${i}`, { ttlMs: 5_000, checkFlag: true }),
      ),
    );
    expect(results.filter((r) => r.state === 'acquired')).toHaveLength(1);
    for (const r of results.filter((r) => r.state === 'held')) {
      expect(r.state === 'held' && r.remainingMs).toBeGreaterThan(4_000);
    }
  });

  it('lets only the token owner extend or release', async () => {
    expect((await h.a.acquire(user, 'owner', { ttlMs: 5_000, checkFlag: true })).state).toBe(
      'acquired',
    );
    expect(await h.b.extend(user, 'intruder', 5_000)).toBe(false);
    expect(await h.b.release(user, 'intruder')).toBe(false);
    expect((await h.b.acquire(user, 'other', { ttlMs: 5_000, checkFlag: true })).state).toBe(
      'held',
    );
    expect(await h.a.extend(user, 'owner', 5_000)).toBe(true);
    expect(await h.a.release(user, 'owner')).toBe(true);
    expect((await h.b.acquire(user, 'other', { ttlMs: 5_000, checkFlag: true })).state).toBe(
      'acquired',
    );
  });

  it('keeps a lock re-acquired after expiry safe from the stale handle', async () => {
    expect((await h.a.acquire(user, 'stale', { ttlMs: 40, checkFlag: true })).state).toBe(
      'acquired',
    );
    await sleep(80);
    expect((await h.b.acquire(user, 'fresh', { ttlMs: 5_000, checkFlag: true })).state).toBe(
      'acquired',
    );
    expect(await h.a.release(user, 'stale')).toBe(false);
    expect(await h.a.extend(user, 'stale', 5_000)).toBe(false);
    expect(await h.a.finish(user, 'stale', { loadedTtlMs: 5_000 })).toEqual({
      owned: false,
      committed: true,
    });
    // The fresh owner still holds it.
    expect((await h.a.acquire(user, 'third', { ttlMs: 5_000, checkFlag: false })).state).toBe(
      'held',
    );
    expect(await h.b.release(user, 'fresh')).toBe(true);
  });

  it("lets a holder that lost the lock leave a later load's flag and its TTL alone, late", async () => {
    expect((await h.a.acquire(user, 'stale', { ttlMs: 40, checkFlag: true })).state).toBe(
      'acquired',
    );
    await sleep(80);
    expect((await h.b.acquire(user, 'fresh', { ttlMs: 5_000, checkFlag: true })).state).toBe(
      'acquired',
    );
    expect(await h.b.finish(user, 'fresh', { loadedTtlMs: 10_000 })).toEqual({
      owned: true,
      committed: true,
    });
    // The stale holder's loader succeeded too; its finish comes last, with a shorter TTL, then 0.
    expect(await h.a.finish(user, 'stale', { loadedTtlMs: 200 })).toEqual({
      owned: false,
      committed: true,
    });
    expect(await h.a.finish(user, 'stale', { loadedTtlMs: 0 })).toEqual({
      owned: false,
      committed: true,
    });
    expect(await h.b.flagTtl(user)).toBeGreaterThan(5_000);
  });

  it('lets a holder whose lease ran out with nobody taking over still set the missing flag', async () => {
    expect((await h.a.acquire(user, 'alone', { ttlMs: 40, checkFlag: true })).state).toBe(
      'acquired',
    );
    await sleep(80);
    expect(await h.a.finish(user, 'alone', { loadedTtlMs: 5_000 })).toEqual({
      owned: false,
      committed: true,
    });
    expect(await h.b.flagTtl(user)).toBeGreaterThan(4_000);
  });

  it('hands out strictly increasing fencing tokens, all from one incarnation of the lock state', async () => {
    const tokens: number[] = [];
    const incarnations = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const store = i % 2 ? h.a : h.b;
      const r = await store.acquire(user, `t${i}`, { ttlMs: 5_000, checkFlag: false });
      if (r.state !== 'acquired') throw new Error(`expected to acquire, got ${r.state}`);
      tokens.push(r.fencingToken);
      incarnations.add(r.incarnation);
      expect(await store.release(user, `t${i}`)).toBe(true);
    }
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]);
    expect(incarnations.size).toBe(1);
  });

  it('issues fencing tokens that follow the clock in microseconds, so stores can be compared', async () => {
    const before = Date.now() * 1000;
    const r = await h.a.acquire(user, 'clock', { ttlMs: 5_000, checkFlag: false });
    if (r.state !== 'acquired') throw new Error(`expected to acquire, got ${r.state}`);
    expect(r.fencingToken).toBeGreaterThanOrEqual(before - 1_000_000); // within a second of the test's clock
    expect(r.fencingToken).toBeLessThanOrEqual(Date.now() * 1000 + 1_000_000);
  });

  it('expires the loaded flag and the lock after their TTLs', async () => {
    await h.a.setLoaded(user, 60);
    expect(await h.b.flagTtl(user).then((t) => t !== undefined)).toBe(true);
    expect((await h.a.acquire(user, 'x', { ttlMs: 60, checkFlag: false })).state).toBe('acquired');
    expect((await h.b.acquire(user, 'y', { ttlMs: 60, checkFlag: false })).state).toBe('held');
    await sleep(120);
    expect(await h.b.flagTtl(user).then((t) => t !== undefined)).toBe(false);
    expect((await h.b.acquire(user, 'y', { ttlMs: 5_000, checkFlag: true })).state).toBe(
      'acquired',
    );
  });

  it('reports the flag instead of locking when checkFlag is set, and locks anyway when not', async () => {
    await h.a.setLoaded(user, 5_000);
    expect((await h.b.acquire(user, 'x', { ttlMs: 5_000, checkFlag: true })).state).toBe('loaded');
    expect((await h.b.acquire(user, 'x', { ttlMs: 5_000, checkFlag: false })).state).toBe(
      'acquired',
    );
  });

  it('finishes atomically: the notice arrives only when the flag is set and the lock is free', async () => {
    expect((await h.a.acquire(user, 'owner', { ttlMs: 5_000, checkFlag: true })).state).toBe(
      'acquired',
    );
    expect((await h.b.acquire(user, 'waiter', { ttlMs: 5_000, checkFlag: true })).state).toBe(
      'held',
    ); // b now waits
    const seen = h.recorderB.next(NoticeKind.Loaded).then(async (notice) => ({
      notice,
      loaded: await h.b.flagTtl(user).then((t) => t !== undefined),
      lock: await h.b.acquire(user, 'probe', { ttlMs: 5_000, checkFlag: false }),
    }));
    expect(await h.a.finish(user, 'owner', { loadedTtlMs: 5_000 })).toEqual({
      owned: true,
      committed: true,
    });
    const { notice, loaded, lock } = await seen;
    expect(notice.tag).toBe(user.tag);
    expect(loaded).toBe(true);
    expect(lock.state).toBe('acquired');
  });

  it('notifies set, release and clear, and stays silent when a non-owner releases', async () => {
    const loaded = h.recorderB.next(NoticeKind.Loaded);
    await h.a.setLoaded(user, 5_000);
    expect((await loaded).tag).toBe(user.tag);

    const cleared = h.recorderB.next(NoticeKind.Cleared);
    await h.a.clearLoaded(user);
    expect((await cleared).tag).toBe(user.tag);
    expect(await h.b.flagTtl(user).then((t) => t !== undefined)).toBe(false);

    await h.a.acquire(user, 'owner', { ttlMs: 5_000, checkFlag: true });
    expect((await h.b.acquire(user, 'waiter', { ttlMs: 5_000, checkFlag: true })).state).toBe(
      'held',
    ); // b now waits
    const before = h.recorderB.notices.filter((n) => n.kind === NoticeKind.Released).length;
    expect(await h.b.release(user, 'not-owner')).toBe(false);
    const released = h.recorderB.next(NoticeKind.Released);
    expect(await h.a.release(user, 'owner')).toBe(true);
    expect((await released).tag).toBe(user.tag);
    expect(h.recorderB.notices.filter((n) => n.kind === NoticeKind.Released)).toHaveLength(
      before + 1,
    );
  });
});

describe('redis store specifics', () => {
  afterEach(closeOpened);

  it('publishes on finish and release only while someone waits', async () => {
    const keys = new KeyBuilder(uniquePrefix('quiet'));
    const store = new RedisLoadStore(redisUrl(), keys);
    const other = new RedisLoadStore(redisUrl(), keys);
    const heard: string[] = [];
    await store.init(quiet());
    await other.init({ notice: (n) => heard.push(n.kind), resubscribed() {} });
    try {
      const user = keys.forUser('u');
      // Nobody waits: a lock cycle and a finish send no notice at all.
      await store.acquire(user, 't1', { ttlMs: 5_000, checkFlag: true });
      await store.release(user, 't1');
      await store.acquire(user, 't2', { ttlMs: 5_000, checkFlag: true });
      await store.finish(user, 't2', { loadedTtlMs: 5_000 });
      // Someone waits (a held acquire marks it): the release is published.
      const user2 = keys.forUser('v');
      await store.acquire(user2, 't3', { ttlMs: 5_000, checkFlag: true });
      expect((await other.acquire(user2, 'w', { ttlMs: 5_000, checkFlag: true })).state).toBe(
        'held',
      );
      await store.release(user2, 't3');
      // A later notice flushes the channel, so we know the earlier ones would have arrived by now.
      await store.clearLoaded(user2);
      const deadline = Date.now() + 2_000;
      while (!heard.includes(NoticeKind.Cleared) && Date.now() < deadline) await sleep(5);
      expect(heard).toEqual([NoticeKind.Released, NoticeKind.Cleared]);
    } finally {
      await Promise.all([store.close(), other.close()]);
    }
  });

  it('clearAllLoaded moves on every group it can, tells the other store, then rejects with the one that failed', async () => {
    const keys = new KeyBuilder(uniquePrefix('clear-one-fails'));
    const store = closeWithTest(redisStore(keys), (s) => s.close());
    const other = closeWithTest(redisStore(keys), (s) => s.close());
    const redis = closeWithTest(inspector(), (r) => r.quit());
    const recorder = new Recorder();
    await Promise.all([store.init(quiet()), other.init(recorder)]);
    const broken = keys.forUser('broken');
    const users = Array.from({ length: 20 }, (_, i) => keys.forUser(`fine-${i}`)).filter(
      (u) => u.generation !== broken.generation,
    );
    await Promise.all(users.map((u) => store.setLoaded(u, 60_000)));
    await redis.hset(broken.generation, 'not', 'a counter'); // this group's script fails: WRONGTYPE
    const heard = recorder.next(NoticeKind.ClearedAll);

    await expect(store.clearAllLoaded()).rejects.toThrow(/WRONGTYPE/);
    expect((await heard).tag).toBe(ALL_USERS_TAG);
    expect(await Promise.all(users.map((u) => other.flagTtl(u)))).toEqual(
      users.map(() => undefined),
    );
    await redis.del(broken.generation);
  });

  it('keeps fencing tokens increasing after the counter is lost (expiry or a Redis restart)', async () => {
    const keys = new KeyBuilder(uniquePrefix('fence'));
    const store = new RedisLoadStore(redisUrl(), keys);
    await store.init(quiet());
    const redis = inspector();
    try {
      const user = keys.forUser('u');
      const first = await store.acquire(user, 'a', { ttlMs: 5_000, checkFlag: false });
      await store.release(user, 'a');
      await redis.del(user.fence);
      const second = await store.acquire(user, 'b', { ttlMs: 5_000, checkFlag: false });
      await store.release(user, 'b');
      if (first.state !== 'acquired' || second.state !== 'acquired')
        throw new Error('expected both to acquire');
      expect(second.fencingToken).toBeGreaterThan(first.fencingToken);
      // The lock state was lost: the lease says so, with a new incarnation.
      expect(first.incarnation).toMatch(/^redis:\d+$/);
      expect(second.incarnation).toMatch(/^redis:\d+$/);
      expect(second.incarnation).not.toBe(first.incarnation);
      expect(await redis.pttl(user.fence)).toBeGreaterThan(0);
    } finally {
      await redis.quit();
      await store.close();
    }
  });

  it('keeps fencing tokens increasing past a counter that is ahead of the clock', async () => {
    // A counter left by a server whose clock ran ahead (or a clock stepped back): the next token
    // must still be greater than it, not the clock's smaller value.
    const keys = new KeyBuilder(uniquePrefix('fence-ahead'));
    const store = new RedisLoadStore(redisUrl(), keys);
    await store.init(quiet());
    const redis = inspector();
    try {
      const user = keys.forUser('u');
      const ahead = Date.now() * 1000 + 3_600_000_000; // an hour ahead, in µs
      await redis.set(user.fence, String(ahead), 'PX', 60_000);
      const next = await store.acquire(user, 'a', { ttlMs: 5_000, checkFlag: false });
      if (next.state !== 'acquired') throw new Error(`expected to acquire, got ${next.state}`);
      expect(next.fencingToken).toBe(ahead + 1);
    } finally {
      await redis.quit();
      await store.close();
    }
  });

  it("answers a loaded user, a refresh under way and a lock without expiry with the server's times", async () => {
    const keys = new KeyBuilder(uniquePrefix('times'));
    const store = new RedisLoadStore(redisUrl(), keys);
    await store.init(quiet());
    const redis = inspector();
    try {
      const user = keys.forUser('u');
      await store.acquire(user, 'a', { ttlMs: 5_000, checkFlag: true });
      await store.finish(user, 'a', { loadedTtlMs: 8_000 });
      const loaded = await store.acquire(user, 'b', { ttlMs: 5_000, checkFlag: true });
      expect(loaded).toEqual({ state: 'loaded', remainingMs: expect.any(Number) });
      expect(loaded.state === 'loaded' && loaded.remainingMs).toBeGreaterThan(7_000);
      expect(loaded.state === 'loaded' && loaded.remainingMs).toBeLessThanOrEqual(8_000);
      // In the refresh window: the first caller takes the refresh, the next is told it is under way.
      const refresher = await store.acquire(user, 'c', {
        ttlMs: 5_000,
        checkFlag: true,
        refreshAheadMs: 10_000,
      });
      expect(refresher).toMatchObject({ state: 'acquired', refreshOf: expect.any(Number) });
      const next = await store.acquire(user, 'd', {
        ttlMs: 5_000,
        checkFlag: true,
        refreshAheadMs: 10_000,
      });
      expect(next).toEqual({ state: 'loaded', remainingMs: expect.any(Number), refreshing: true });
      expect(next.state === 'loaded' && next.remainingMs).toBeGreaterThan(7_000);
      expect(next.state === 'loaded' && next.remainingMs).toBeLessThanOrEqual(8_000);
      // A lock someone set by hand without expiry (PTTL -1): wait a full lease, not -1 ms.
      const other = keys.forUser('v');
      await redis.set(other.lock, 'by-hand');
      expect(await store.acquire(other, 'e', { ttlMs: 5_000, checkFlag: true })).toEqual({
        state: 'held',
        remainingMs: 5_000,
        holder: 'by-hand',
      });
    } finally {
      await redis.quit();
      await store.close();
    }
  });

  it('a refresh whose lock no replica acknowledged is given back, and the caller served as loaded', async () => {
    // The suite's standalone server has no replica: every lock is unreplicated.
    const keys = new KeyBuilder(uniquePrefix('unreplicated'));
    const plain = new RedisLoadStore(redisUrl(), keys);
    const store = new RedisLoadStore(redisUrl(), keys, {
      waitForReplicas: { replicas: 1, timeoutMs: 20 },
    });
    await Promise.all([plain.init(quiet()), store.init(quiet())]);
    try {
      const user = keys.forUser('u');
      await plain.acquire(user, 'a', { ttlMs: 5_000, checkFlag: true });
      await plain.finish(user, 'a', { loadedTtlMs: 8_000 });
      const answer = await store.acquire(user, 'b', {
        ttlMs: 5_000,
        checkFlag: true,
        refreshAheadMs: 10_000,
      });
      expect(answer).toEqual({ state: 'loaded', remainingMs: expect.any(Number) });
      expect(answer.state === 'loaded' && answer.remainingMs).toBeGreaterThan(7_000);
      expect(answer.state === 'loaded' && answer.remainingMs).toBeLessThanOrEqual(8_000);
      // Given back unused: the next caller can take the refresh.
      expect(
        (await plain.acquire(user, 'c', { ttlMs: 5_000, checkFlag: true, refreshAheadMs: 10_000 }))
          .state,
      ).toBe('acquired');
      // Not in the refresh window: no flag to serve, so the caller hears the lock was unreplicated.
      const cold = keys.forUser('v');
      expect(await store.acquire(cold, 'd', { ttlMs: 5_000, checkFlag: true })).toEqual({
        state: 'unreplicated',
        acks: 0,
        replicas: 1,
      });
    } finally {
      await Promise.all([plain.close(), store.close()]);
    }
  });

  it('reads replies right from a borrowed client with stringNumbers', async () => {
    const client = new Redis(redisUrl(), { stringNumbers: true });
    const keys = new KeyBuilder(uniquePrefix('strnum'));
    const store = new RedisLoadStore(client, keys);
    await store.init(quiet());
    try {
      const user = keys.forUser('u');
      expect(await store.flagTtl(user)).toBeUndefined();
      const first = await store.acquire(user, 'a', { ttlMs: 5_000, checkFlag: true });
      expect(first.state).toBe('acquired');
      expect(typeof (first.state === 'acquired' && first.fencingToken)).toBe('number');
      const second = await store.acquire(user, 'b', { ttlMs: 5_000, checkFlag: true });
      expect(second.state === 'held' && second.remainingMs).toBeLessThanOrEqual(5_000);
      expect(await store.extend(user, 'a', 5_000)).toBe(true);
      expect(await store.finish(user, 'a', { loadedTtlMs: 5_000 })).toMatchObject({ owned: true });
      expect(await store.flagTtl(user)).toBeGreaterThan(4_000);
      expect((await store.acquire(user, 'c', { ttlMs: 5_000, checkFlag: true })).state).toBe(
        'loaded',
      );
    } finally {
      await store.close();
      await client.quit();
    }
  });

  it('leaves a borrowed client open on close and closes its own subscriber', async () => {
    const client = inspector();
    const keys = new KeyBuilder(uniquePrefix('borrow'));
    const store = new RedisLoadStore(client, keys);
    await store.init(quiet());
    const clientsBefore = await client.client('LIST');
    await store.close();
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
    const clientsAfter = String(await client.client('LIST'))
      .trim()
      .split('\n').length;
    expect(clientsAfter).toBe(String(clientsBefore).trim().split('\n').length - 1);
    await client.quit();
  });
});

describe('cache-manager store specifics', () => {
  it('re-checks the flag after winning the lock: a load that finished in between is not run again', async () => {
    const cache = createCache({ stores: [new Keyv({ store: new Map() })] });
    const keys = new KeyBuilder(uniquePrefix('cm-recheck'));
    const user = keys.forUser('u');
    /** Another process finishes (flag written, lock released) between our flag read and our lock. */
    class FinishedMeanwhile extends MemoryLoadStore {
      override async acquire(
        u: UserKeys,
        token: string,
        request: AcquireRequest,
      ): Promise<AcquireResult> {
        await cache.set(user.loaded, 1, 60_000);
        return super.acquire(u, token, request);
      }
    }
    const store = new CacheFlagLoadStore(cache, new FinishedMeanwhile(), CACHE_STORE);
    await store.init(quiet());
    try {
      expect((await store.acquire(user, 'late', { ttlMs: 5_000, checkFlag: true })).state).toBe(
        'loaded',
      );
      // The lock it took for a moment was given back at once.
      expect((await store.acquire(user, 'next', { ttlMs: 5_000, checkFlag: false })).state).toBe(
        'acquired',
      );
    } finally {
      await store.close();
      await cache.disconnect();
    }
  });
});

describe.each(NODE_REDIS_FLAVOURS)('redis store on a borrowed %s client', (flavour) => {
  it('runs the flow over the protocol that major speaks by default (v5 RESP2, v6 RESP3)', async () => {
    const client = await createTestRedisClient(flavour, redisUrl());
    const raw = client.source as unknown as { sendCommand(args: string[]): Promise<unknown> };
    const keys = new KeyBuilder(uniquePrefix(`resp-${flavour}`));
    const store = new RedisLoadStore(client.source, keys);
    await store.init(quiet());
    try {
      const resp = /resp=(\d)/.exec(String(await raw.sendCommand(['CLIENT', 'INFO'])))?.[1];
      expect(resp).toBe(flavour === 'node-redis-5' ? '2' : '3');
      const user = keys.forUser('u');
      const first = await store.acquire(user, 'a', { ttlMs: 5_000, checkFlag: true });
      expect(first.state === 'acquired' && typeof first.fencingToken).toBe('number');
      expect(await store.finish(user, 'a', { loadedTtlMs: 5_000 })).toMatchObject({ owned: true });
      expect(await store.flagTtl(user)).toBeGreaterThan(4_000);
      expect((await store.acquire(user, 'b', { ttlMs: 5_000, checkFlag: true })).state).toBe(
        'loaded',
      );
    } finally {
      await store.close();
      await client.close();
    }
  });

  it('leaves the borrowed client open on close and closes its own subscriber', async () => {
    const client = await createTestRedisClient(flavour, redisUrl());
    const raw = client.source as unknown as {
      isReady: boolean;
      sendCommand(args: string[]): Promise<unknown>;
    };
    const connections = async () =>
      String(await raw.sendCommand(['CLIENT', 'LIST']))
        .trim()
        .split('\n').length;
    const keys = new KeyBuilder(uniquePrefix(`borrow-${flavour}`));
    const store = new RedisLoadStore(client.source, keys);
    await store.init(quiet());
    const before = await connections();
    await store.close();
    expect(raw.isReady).toBe(true);
    expect(await raw.sendCommand(['PING'])).toBe('PONG');
    expect(await connections()).toBe(before - 1);
    await client.close();
  });
});
