/**
 * The waiting side of the flow (`runFlight` in `src/load-flow.ts`) when Redis goes away under a
 * waiter: how often it re-checks, how long it rides an outage out (`outageGraceMs`), and what a
 * waiter that wins the lock right after an outage does (`confirmAfterOutage`): the holder it waited
 * for may have finished its load in the outage and lost its lease only because it could not renew
 * it, so the waiter holds its new lock for up to two thirds of its lease for that holder's commit,
 * and loads only if none comes.
 *
 * Staged on one real Redis: the holder (app A) talks to it directly; the waiter (app B) through a
 * TCP proxy that the test cuts, so only B sees the outage (and counts B's commands). Where a
 * failover to an empty replica would lose the lock state, the test deletes it while B is cut off.
 * B is the module's own ioredis client; the tests of its subscriber coming back during the hold
 * (each client library re-subscribes in its own way) run on borrowed node-redis 5 and 6 clients too.
 */
import {
  LoadStatusUnavailableError,
  type LoadOutcome,
  type LoadStatusEvent,
  type LoadStatusModuleOptions,
} from '../../src';
import { KeyBuilder } from '../../src/keys';
import { deferred, startApp, startAppOn, type TestApp } from '../support/apps';
import { sleep, uniquePrefix, userKey } from '../support/env';
import { recordEvents, whenEvent } from '../support/events';
import {
  createTestRedisClient,
  NODE_REDIS_FLAVOURS,
  type ClientFlavour,
} from '../support/redis-clients';
import { until } from '../support/redis-topologies';
import { suiteRedis } from '../support/suite-redis';
import { TcpProxy } from '../support/tcp-proxy';

/** The holder's lease: short, so the waiter re-checks it often (every lease at most). */
const HOLDER_LEASE_MS = 600;
/** The waiter's lease: it holds the lock it wins for two thirds of it. */
const WAITER_LEASE_MS = 3_000;
const HOLD_MS = (WAITER_LEASE_MS * 2) / 3;

const redis = suiteRedis();

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Waiting {
  proxy: TcpProxy;
  holder: TestApp;
  waiter: TestApp;
  /** Resolves the holder's loader. */
  finishHolder(): void;
  holding: Promise<LoadOutcome<string>>;
  waiting: Promise<LoadOutcome<string>>;
  waiterLoader: jest.Mock;
  /** The PTTL of the lock when the waiter's loader began (read by the loader, under the lock). */
  lockPttlAtLoad: () => number | undefined;
  waiterEvents: LoadStatusEvent[];
  /** `performance.now()` when the waiter called. */
  calledAt: number;
  keyPrefix: string;
  lockKey: string;
}

/** How B talks to Redis, and what happens before A starts to load. */
interface WaiterSetup {
  /** B's client: the module's own ioredis from a URL (default), or a borrowed node-redis one. */
  flavour?: ClientFlavour;
  /** B's lease when it wins the lock (default {@link WAITER_LEASE_MS}). */
  waiterLeaseMs?: number;
  /** Runs on A before A starts its load. */
  beforeLoad?: (holder: TestApp) => Promise<void>;
}

/**
 * A (direct to Redis) holds the lock and loads until `finishHolder()`; B (through the proxy, with
 * `waiterOptions`) has waited on it. Resolves once B waits.
 */
async function holderAndWaiter(
  waiterOptions: LoadStatusModuleOptions = {},
  waitTimeoutMs = 15_000,
  { flavour = 'ioredis-url', waiterLeaseMs = WAITER_LEASE_MS, beforeLoad }: WaiterSetup = {},
): Promise<Waiting> {
  const keyPrefix = uniquePrefix('waiter-outage');
  const proxy = await TcpProxy.start(redis.server.port);
  cleanups.push(() => proxy.close());
  const holder = await startApp({ redis: redis.server.url, keyPrefix });
  cleanups.push(() => holder.close());
  const waiter = await startAppOn(await createTestRedisClient(flavour, proxy.url), {
    keyPrefix,
    commandTimeoutMs: 200,
    pollIntervalMs: 50,
    ...waiterOptions,
  });
  cleanups.push(() => waiter.close());
  await beforeLoad?.(holder);
  const waiterEvents = recordEvents(waiter);

  const release = deferred<string>();
  cleanups.push(() => release.resolve('late'));
  const holderStarted = whenEvent(holder, (e) => e.type === 'load-started');
  const holding = holder.lock.ensureLoaded('u', () => release.promise, {
    lockTtlMs: HOLDER_LEASE_MS,
  });
  holding.catch(() => undefined); // awaited by the tests that need it
  await holderStarted;

  const waitStarted = whenEvent(waiter, (e) => e.type === 'wait-started');
  const calledAt = performance.now();
  const lockKey = userKey(keyPrefix, 'u', 'lock');
  let lockPttlAtLoad: number | undefined;
  const waiterLoader = jest.fn(async () => {
    lockPttlAtLoad = await redis.inspect.pttl(lockKey);
    return 'from the waiter';
  });
  const waiting = waiter.lock.ensureLoaded('u', waiterLoader, {
    lockTtlMs: waiterLeaseMs,
    waitTimeoutMs,
  });
  waiting.catch(() => undefined);
  await waitStarted;
  return {
    proxy,
    holder,
    waiter,
    finishHolder: () => release.resolve('from the holder'),
    holding,
    waiting,
    waiterLoader,
    lockPttlAtLoad: () => lockPttlAtLoad,
    waiterEvents,
    calledAt,
    keyPrefix,
    lockKey,
  };
}

const acquireFailed = (e: LoadStatusEvent) => e.type === 'store-error' && e.operation === 'acquire';

/**
 * Cuts B off (its acquire fails: it rides the outage out) and deletes the lock state, as a
 * failover to an empty replica would.
 */
async function cutOffAndLoseLockState(w: Waiting): Promise<void> {
  const failed = whenEvent(w.waiter, acquireFailed);
  w.proxy.cut();
  await failed;
  await redis.inspect.del(w.lockKey, userKey(w.keyPrefix, 'u', 'waiting'));
}

/**
 * {@link holderAndWaiter}, then B is cut off (its acquire fails: it rides the outage out), the
 * lock state is lost, and B is let through again at `mendAt` (ms after B's call) and wins the
 * lock. Resolves once B's lock is in Redis and B has read the flag once under it, with A's loader
 * still running.
 */
async function stage(
  waitTimeoutMs = 15_000,
  mendAt = 0,
  mend: { subscribers?: boolean } = {},
  flavour: ClientFlavour = 'ioredis-url',
): Promise<Waiting & { waiterWonAt: number }> {
  const w = await holderAndWaiter({}, waitTimeoutMs, { flavour });
  await cutOffAndLoseLockState(w);
  await sleep(Math.max(0, w.calledAt + mendAt - performance.now()));
  w.proxy.mend(mend);
  // Polled every 5 ms: the tests time the hold from this moment.
  await until(
    "the waiter's lock in Redis",
    async () => (await redis.inspect.get(w.lockKey)) !== null,
    10_000,
    5,
  );
  const waiterWonAt = performance.now();
  // With its subscriber let through, wait until the server has it (holder and waiter both):
  // the tests that need the commit's notice to arrive must not race the re-subscription.
  if (mend.subscribers !== false)
    await until(
      "the waiter's subscription back on the server",
      async () => (await numsub(w.keyPrefix)) === 2,
      10_000,
      5,
    );
  // Its first flag read of the hold marks the user waited on: a commit after this moment is one
  // the read did not see (before it, the read itself would answer, and no hold would be tested).
  await until(
    "the waiter's first flag read of its hold",
    async () => (await redis.inspect.exists(userKey(w.keyPrefix, 'u', 'waiting'))) === 1,
    10_000,
    5,
  );
  return { ...w, waiterWonAt };
}

/** How many connections are subscribed to the prefix's notice channel. */
async function numsub(keyPrefix: string): Promise<number> {
  const reply = (await redis.inspect.pubsub('NUMSUB', new KeyBuilder(keyPrefix).channel)) as [
    string,
    number,
  ];
  return Number(reply[1]);
}

const waitEvents = (events: LoadStatusEvent[]) =>
  events.filter((e) => e.type === 'wait-started' || e.type === 'wait-ended');

describe('a waiter on a live Redis', () => {
  it('re-checks the lock when its lease would run out, not every pollIntervalMs', async () => {
    // The holder's lease (600 ms) is renewed every 200 ms for the 1.5 s it loads: the waiter
    // re-checks about once a lease and is woken by the finish's notice, where a poll every 50 ms
    // would have re-checked 30 times. Nothing is cut off here: a command timeout far above any
    // reply time keeps a slow reply on a loaded machine from counting as an outage (fail-open
    // would then load in-process, and the waiter never wait).
    const w = await holderAndWaiter({ commandTimeoutMs: 5_000 });
    const before = w.proxy.count('evalsha');
    await sleep(1_500);
    w.finishHolder();
    await expect(w.waiting).resolves.toMatchObject({ status: 'loaded-elsewhere' });
    expect(w.proxy.count('evalsha') - before).toBeLessThanOrEqual(5);
    expect(waitEvents(w.waiterEvents)).toEqual([
      expect.objectContaining({ type: 'wait-started', userId: 'u' }),
      expect.objectContaining({ type: 'wait-ended', reason: 'loaded-elsewhere' }),
    ]);
  });
});

describe("a waiter riding out an outage (its Redis cut off, the holder's not)", () => {
  it('rides it out for outageGraceMs, re-checking every pollIntervalMs, then applies onStoreError', async () => {
    const graceMs = 500;
    const w = await holderAndWaiter({ outageGraceMs: graceMs, onStoreError: 'fail-closed' });
    const failed = whenEvent(w.waiter, acquireFailed);
    w.proxy.cut();
    await failed;
    const firstFailureAt = performance.now();
    await expect(w.waiting).rejects.toBeInstanceOf(LoadStatusUnavailableError);
    const rodeOutMs = performance.now() - firstFailureAt;
    expect(rodeOutMs).toBeGreaterThanOrEqual(graceMs - 20);
    expect(rodeOutMs).toBeLessThan(graceMs + 400);
    // Re-checked every poll (50 ms) plus a command timeout (200 ms) while riding out.
    const failures = w.waiterEvents.filter(acquireFailed).length;
    expect(failures).toBeGreaterThanOrEqual(3);
    expect(waitEvents(w.waiterEvents)).toEqual([
      expect.objectContaining({ type: 'wait-started', userId: 'u' }),
      expect.objectContaining({ type: 'wait-ended', reason: 'aborted' }),
    ]);
    expect(w.waiterLoader).not.toHaveBeenCalled();
  });

  it('with outageGraceMs 0, applies onStoreError at the first failed re-check', async () => {
    const w = await holderAndWaiter({ outageGraceMs: 0, onStoreError: 'fail-closed' });
    w.proxy.cut();
    await expect(w.waiting).rejects.toBeInstanceOf(LoadStatusUnavailableError);
    expect(w.waiterEvents.filter(acquireFailed)).toHaveLength(1);
  });

  it("is answered by the holder's notice while its commands still fail", async () => {
    const w = await holderAndWaiter();
    const failedTwice = whenEvent(w.waiter, acquireFailed, 2);
    w.proxy.cut({ keepSubscribers: true });
    await failedTwice;
    const finishedAt = performance.now();
    w.finishHolder();
    await expect(w.waiting).resolves.toMatchObject({ status: 'loaded-elsewhere' });
    // Within one re-check (a poll and a command timeout), not at the end of the budget.
    expect(performance.now() - finishedAt).toBeLessThan(250);
    expect(w.waiterLoader).not.toHaveBeenCalled();
    expect(waitEvents(w.waiterEvents).at(-1)).toMatchObject({ reason: 'loaded-elsewhere' });
  });
});

/**
 * A waiter that won the lock after an outage, on a waiter of `flavour` (each client library's
 * re-subscription is its own code): with its subscriber back during its hold, the holder's commit
 * that follows is heard, and one whose notice it missed is found by the re-check the
 * re-subscription triggers; a flag of an earlier generation (from before a `clearAllLoaded`) is
 * no commit.
 */
function subscriberComesBack(flavour: ClientFlavour): void {
  it("gives the lock back and loads nothing when the holder's commit comes during the hold", async () => {
    const s = await stage(15_000, 0, {}, flavour);
    const committedAt = performance.now();
    s.finishHolder();
    await expect(s.holding).resolves.toMatchObject({ status: 'loaded', value: 'from the holder' });
    await expect(s.waiting).resolves.toMatchObject({ status: 'loaded-elsewhere' });
    // Answered by the holder's notice, not at the end of the hold.
    expect(performance.now() - committedAt).toBeLessThan(HOLD_MS / 2);
    expect(s.waiterLoader).not.toHaveBeenCalled();
    // The waiter's lock is given back at once, not left to run out.
    expect(await redis.inspect.exists(s.lockKey)).toBe(0);
    expect(s.waiterEvents.map((e) => e.type)).not.toContain('takeover');
    expect(s.waiterEvents.at(-1)).toMatchObject({ type: 'wait-ended', reason: 'loaded-elsewhere' });
  });

  it('finds a commit whose notice it missed as soon as its subscriber is back, not at the end of the hold', async () => {
    const s = await stage(15_000, 0, { subscribers: false }, flavour);
    s.finishHolder();
    await expect(s.holding).resolves.toMatchObject({ status: 'loaded', value: 'from the holder' });
    // The commit's notice is gone; the subscriber is let back now.
    const backAt = performance.now();
    s.proxy.mend();
    await expect(s.waiting).resolves.toMatchObject({ status: 'loaded-elsewhere' });
    expect(performance.now() - s.waiterWonAt).toBeLessThan(HOLD_MS - 200);
    expect(await numsub(s.keyPrefix)).toBe(2); // answered by the re-subscription's re-check
    expect(performance.now() - backAt).toBeLessThan(HOLD_MS / 2);
    expect(s.waiterLoader).not.toHaveBeenCalled();
    expect(await redis.inspect.exists(s.lockKey)).toBe(0);
  });

  it("does not take a flag from before a clearAllLoaded for the holder's commit: it holds, then loads", async () => {
    // u's flag from before the clear is still in Redis (until its TTL) but no longer counts: A
    // loads, B waits; B wins the lock after the outage and must not read that flag as A's commit.
    const leaseMs = 900;
    const w = await holderAndWaiter({}, 15_000, {
      flavour,
      waiterLeaseMs: leaseMs,
      beforeLoad: async (holder) => {
        await holder.status.setLoaded('u');
        await holder.status.clearAllLoaded();
      },
    });
    expect(await redis.inspect.exists(userKey(w.keyPrefix, 'u', 'loaded'))).toBe(1);
    await cutOffAndLoseLockState(w);
    w.proxy.mend();
    await expect(w.waiting).resolves.toMatchObject({ status: 'loaded', value: 'from the waiter' });
    expect(w.waiterLoader).toHaveBeenCalledTimes(1);
    // No commit came during its hold: it took over, its lease renewed before it loaded.
    expect(w.waiterEvents.map((e) => e.type)).toContain('takeover');
    expect(w.lockPttlAtLoad()).toBeGreaterThan((leaseMs * 2) / 3);
    w.finishHolder();
    await expect(w.holding).resolves.toMatchObject({ status: 'loaded' });
  });
}

describe('a waiter that wins the lock after riding out an outage', () => {
  subscriberComesBack('ioredis-url');

  it('keeps holding when its subscriber comes back with no commit, then loads', async () => {
    const s = await stage(15_000, 0, { subscribers: false });
    s.proxy.mend();
    // Back during the hold: the re-subscription's re-check finds no flag, and the hold goes on.
    await until(
      "the waiter's subscription back on the server",
      async () => (await numsub(s.keyPrefix)) === 2,
      10_000,
      5,
    );
    expect(performance.now() - s.waiterWonAt).toBeLessThan(HOLD_MS - 200);
    await expect(s.waiting).resolves.toMatchObject({ status: 'loaded', value: 'from the waiter' });
    expect(s.waiterLoader).toHaveBeenCalledTimes(1);
    expect(performance.now() - s.waiterWonAt).toBeGreaterThanOrEqual(HOLD_MS - 50);
    s.finishHolder();
    await expect(s.holding).resolves.toMatchObject({ status: 'loaded' });
  });

  it("finds the holder's commit at the end of the hold when its notice is lost", async () => {
    // The waiter's subscriber stays cut off: the commit's notice cannot reach it.
    const s = await stage(15_000, 0, { subscribers: false });
    s.finishHolder();
    await expect(s.holding).resolves.toMatchObject({ status: 'loaded', value: 'from the holder' });
    await expect(s.waiting).resolves.toMatchObject({ status: 'loaded-elsewhere' });
    expect(performance.now() - s.waiterWonAt).toBeGreaterThanOrEqual(HOLD_MS - 50);
    expect(s.waiterLoader).not.toHaveBeenCalled();
    expect(await redis.inspect.exists(s.lockKey)).toBe(0);
  });

  it('loads after two thirds of its lease when no commit comes, with its lease renewed first', async () => {
    const s = await stage();
    await whenEvent(s.waiter, (e) => e.type === 'load-started');
    const heldMs = performance.now() - s.waiterWonAt;
    await expect(s.waiting).resolves.toMatchObject({ status: 'loaded', value: 'from the waiter' });
    // Renewed: without it, a third of the lease would be left.
    expect(s.lockPttlAtLoad()).toBeGreaterThan(HOLD_MS);
    expect(heldMs).toBeGreaterThanOrEqual(HOLD_MS - 50);
    expect(heldMs).toBeLessThan(HOLD_MS + 400);
    expect(s.waiterEvents.map((e) => e.type)).toContain('takeover');
    s.finishHolder();
    // The holder's late finish keeps the flag of the load that took over.
    await expect(s.holding).resolves.toMatchObject({ status: 'loaded' });
  });

  it('does not load on a lease its hold used up when the renewal cannot say the lock is still its own', async () => {
    // Cut off again during the hold, its lock lost meanwhile: the renewal after the hold fails,
    // so the lease it won is spent and maybe someone else's. It asks again, wins a new lock once
    // let through, and loads under it.
    const s = await stage();
    // The fencing counter holds `<token>:<lineage>` of the grant it won.
    const firstFence = Number(
      (await redis.inspect.get(userKey(s.keyPrefix, 'u', 'fence')))!.split(':')[0],
    );
    const renewalFailed = whenEvent(
      s.waiter,
      (e) => e.type === 'store-error' && e.operation === 'extend',
    );
    s.proxy.cut();
    await redis.inspect.del(s.lockKey);
    await renewalFailed;
    expect(s.waiterLoader).not.toHaveBeenCalled();
    s.proxy.mend();
    await expect(s.waiting).resolves.toMatchObject({ status: 'loaded', value: 'from the waiter' });
    expect(s.waiterLoader).toHaveBeenCalledTimes(1);
    // Loaded under a lock in Redis, with most of a renewed lease left, and not the first grant.
    expect(s.lockPttlAtLoad()).toBeGreaterThan(HOLD_MS);
    const loadStarted = s.waiterEvents.find((e) => e.type === 'load-started');
    expect(loadStarted).toBeDefined();
    expect(loadStarted!.fencingToken).toBeGreaterThan(firstFence);
    s.finishHolder();
    await s.holding;
  });

  it('loads at once when it wins the lock with its wait budget already spent', async () => {
    // Its acquire is sent inside the budget and granted after it (the server pauses writes across
    // the deadline): no budget is left to hold the lock for a commit, so it loads, as a takeover.
    const budgetMs = 3_000;
    const w = await holderAndWaiter({ commandTimeoutMs: 5_000 }, budgetMs);
    await cutOffAndLoseLockState(w);
    const deadline = w.calledAt + budgetMs;
    const scripts = () => w.proxy.count('evalsha') + w.proxy.count('eval');
    const before = scripts();
    const pauseMs = Math.ceil(deadline + 300 - performance.now());
    await redis.inspect.call('CLIENT', 'PAUSE', String(pauseMs), 'WRITE');
    cleanups.push(() => redis.inspect.call('CLIENT', 'UNPAUSE'));
    w.proxy.mend();
    await until("the waiter's acquire sent", () => Promise.resolve(scripts() > before), 10_000, 5);
    expect(performance.now()).toBeLessThan(deadline); // sent within the budget, granted after it
    await expect(w.waiting).resolves.toMatchObject({ status: 'loaded', value: 'from the waiter' });
    expect(performance.now()).toBeGreaterThanOrEqual(deadline);
    expect(w.waiterLoader).toHaveBeenCalledTimes(1);
    expect(w.waiterEvents.map((e) => e.type)).toContain('takeover');
    // It loads on the grant's own lease, counted from when its acquire was sent.
    const acquired = w.waiterEvents.find((e) => e.type === 'lock-acquired');
    expect(acquired).toMatchObject({ leaseMs: WAITER_LEASE_MS });
    const leaseEndsInMs = (acquired as { leaseEndsInMs: number }).leaseEndsInMs;
    expect(leaseEndsInMs).toBeGreaterThan(0);
    expect(leaseEndsInMs).toBeLessThanOrEqual(WAITER_LEASE_MS);
    w.finishHolder();
    await w.holding;
  });

  it('holds no longer than its wait budget allows, then loads', async () => {
    // Let through 1.2 s before the budget ends (the client reconnects within 0.5 s): the hold is
    // cut from two thirds of the lease (2 s) to what is left of the budget.
    const budgetMs = 4_000;
    const s = await stage(budgetMs, budgetMs - 1_200);
    await whenEvent(s.waiter, (e) => e.type === 'load-started');
    const heldMs = performance.now() - s.waiterWonAt;
    expect(heldMs).toBeLessThan(HOLD_MS - 200);
    await expect(s.waiting).resolves.toMatchObject({ status: 'loaded', value: 'from the waiter' });
    s.finishHolder();
    await s.holding;
  });
});

describe.each(NODE_REDIS_FLAVOURS)(
  'a waiter on a borrowed %s client that wins the lock after riding out an outage',
  (flavour) => subscriberComesBack(flavour),
);
