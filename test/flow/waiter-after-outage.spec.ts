/**
 * A waiter that wins the lock right after riding out an outage (`holderCommitted` in
 * `src/load-flow.ts`): the holder it waited for may have finished its load in the outage and lost
 * its lease only because it could not renew it. The waiter holds its new lock for up to two thirds
 * of its lease for that holder's commit, and loads only if none comes.
 *
 * Staged on one real Redis: the holder (app A) talks to it directly; the waiter (app B) through a
 * TCP proxy that the test cuts, so only B sees the outage. While B is cut off, the lock state is
 * deleted as a failover to an empty replica would lose it; B then wins the lock when it is back.
 */
import { Redis } from 'ioredis';
import { LoadStatusEvents, type LoadStatusEvent, type LoadOutcome } from '../../src';
import { deferred, startApp, type TestApp } from '../support/apps';
import { sleep, uniquePrefix, userKey } from '../support/env';
import { RedisServer } from '../support/redis-server';
import { TcpProxy } from '../support/tcp-proxy';
import { filter, firstValueFrom } from 'rxjs';

/** The holder's lease: short, so the waiter re-checks it often (every lease at most). */
const HOLDER_LEASE_MS = 600;
/** The waiter's lease: it holds the lock it wins for two thirds of it. */
const WAITER_LEASE_MS = 3_000;
const HOLD_MS = (WAITER_LEASE_MS * 2) / 3;

let server: RedisServer;
let inspect: Redis;
beforeAll(async () => {
  server = await RedisServer.start();
  inspect = new Redis(server.url);
});
afterAll(async () => {
  await inspect.quit();
  await server.stop();
});

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function next(app: TestApp, match: (e: LoadStatusEvent) => boolean): Promise<LoadStatusEvent> {
  return firstValueFrom(app.app.get(LoadStatusEvents).events$.pipe(filter(match)));
}

function record(app: TestApp): LoadStatusEvent[] {
  const events: LoadStatusEvent[] = [];
  const subscription = app.app.get(LoadStatusEvents).events$.subscribe((e) => events.push(e));
  cleanups.push(() => subscription.unsubscribe());
  return events;
}

/** Resolves when `check` holds, checked every 5 ms (at most 10 s). */
async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error('condition not met within 10 s');
    await sleep(5);
  }
}

interface Staged {
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
  /** `performance.now()` when the waiter's new lock was first seen in Redis. */
  waiterWonAt: number;
  lockKey: string;
}

/**
 * A holds the lock and loads; B waits on it; B is cut off (its acquire fails: it rides the outage
 * out); the lock state is lost; B is let through again at `mendAt` (ms after B's call) and wins
 * the lock. Resolves once B's lock is in Redis, with A's loader still running.
 */
async function stage(waitTimeoutMs = 15_000, mendAt = 0): Promise<Staged> {
  const keyPrefix = uniquePrefix('after-outage');
  const proxy = await TcpProxy.start(server.port);
  cleanups.push(() => proxy.close());
  const holder = await startApp({ redis: server.url, keyPrefix });
  cleanups.push(() => holder.close());
  const waiter = await startApp({
    redis: proxy.url,
    keyPrefix,
    commandTimeoutMs: 200,
    pollIntervalMs: 50,
  });
  cleanups.push(() => waiter.close());
  const waiterEvents = record(waiter);

  const release = deferred<string>();
  cleanups.push(() => release.resolve('late'));
  const holderStarted = next(holder, (e) => e.type === 'load-started');
  const holding = holder.lock.ensureLoaded('u', () => release.promise, {
    lockTtlMs: HOLDER_LEASE_MS,
  });
  await holderStarted;

  const waitStarted = next(waiter, (e) => e.type === 'wait-started');
  const calledAt = performance.now();
  const lockKey = userKey(keyPrefix, 'u', 'lock');
  let lockPttlAtLoad: number | undefined;
  const waiterLoader = jest.fn(async () => {
    lockPttlAtLoad = await inspect.pttl(lockKey);
    return 'from the waiter';
  });
  const waiting = waiter.lock.ensureLoaded('u', waiterLoader, {
    lockTtlMs: WAITER_LEASE_MS,
    waitTimeoutMs,
  });
  await waitStarted;

  const acquireFailed = next(waiter, (e) => e.type === 'store-error' && e.operation === 'acquire');
  proxy.cut();
  await acquireFailed;
  await inspect.del(lockKey, userKey(keyPrefix, 'u', 'waiting'));
  await sleep(Math.max(0, calledAt + mendAt - performance.now()));
  proxy.mend();
  await until(async () => (await inspect.get(lockKey)) !== null);
  return {
    holder,
    waiter,
    finishHolder: () => release.resolve('from the holder'),
    holding,
    waiting,
    waiterLoader,
    lockPttlAtLoad: () => lockPttlAtLoad,
    waiterEvents,
    waiterWonAt: performance.now(),
    lockKey,
  };
}

describe('a waiter that wins the lock after riding out an outage', () => {
  it("gives the lock back and loads nothing when the holder's commit comes during the hold", async () => {
    const s = await stage();
    const committedAt = performance.now();
    s.finishHolder();
    await expect(s.holding).resolves.toMatchObject({ status: 'loaded', value: 'from the holder' });
    await expect(s.waiting).resolves.toMatchObject({ status: 'loaded-elsewhere' });
    // Answered by the holder's notice, not at the end of the hold.
    expect(performance.now() - committedAt).toBeLessThan(HOLD_MS / 2);
    expect(s.waiterLoader).not.toHaveBeenCalled();
    // The waiter's lock is given back at once, not left to run out.
    expect(await inspect.exists(s.lockKey)).toBe(0);
    expect(s.waiterEvents.map((e) => e.type)).not.toContain('takeover');
    expect(s.waiterEvents.at(-1)).toMatchObject({ type: 'wait-ended', reason: 'loaded-elsewhere' });
  });

  it('loads after two thirds of its lease when no commit comes, with its lease renewed first', async () => {
    const s = await stage();
    await next(s.waiter, (e) => e.type === 'load-started');
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

  it('holds no longer than its wait budget allows, then loads', async () => {
    // Let through 1.2 s before the budget ends (the client reconnects within 0.5 s): the hold is
    // cut from two thirds of the lease (2 s) to what is left of the budget.
    const budgetMs = 4_000;
    const s = await stage(budgetMs, budgetMs - 1_200);
    await next(s.waiter, (e) => e.type === 'load-started');
    const heldMs = performance.now() - s.waiterWonAt;
    expect(heldMs).toBeLessThan(HOLD_MS - 200);
    await expect(s.waiting).resolves.toMatchObject({ status: 'loaded', value: 'from the waiter' });
    s.finishHolder();
    await s.holding;
  });
});
