/**
 * A registration's bookkeeping as a unit: `Flights` over a memory store the test can hold
 * acquires in and make fail. The flow specs show each rule end to end and the memory spec shows
 * that every count returns to zero under load (Stryker runs neither of those against this file);
 * these are its own rules: a shared flight forgotten once it settles, acquires tracked until they
 * settle, a lock won during shutdown given back, manual locks whose lease ran out forgotten every
 * 64 manual acquires, and shutdown waiting for acquires, aborting every loader and releasing every
 * lock, a release that fails included.
 */
import { LoadStatusShutdownError } from '../../src/errors';
import type { LoadOutcome } from '../../src/flight';
import { Flights } from '../../src/flights';
import { KeyBuilder, type UserKeys } from '../../src/keys';
import { HeldLoadLock } from '../../src/load-lock';
import type { LoadStatusCore } from '../../src/load-status.core';
import { LoadStatusEvents, type LoadStatusEvent } from '../../src/load-status.events';
import type { LoadStatusLogger } from '../../src/logger';
import type { AcquireRequest, AcquireResult } from '../../src/stores/load-store';
import { MemoryLoadStore } from '../../src/stores/memory-load-store';

const keys = new KeyBuilder('flights-spec');

/** A memory store whose acquires the test can hold back, fail or answer `unreplicated`. */
class TestStore extends MemoryLoadStore {
  /** While set, each acquire waits for the test to call the `release` it pushed here. */
  holdAcquires = false;
  readonly heldAcquires: Array<() => void> = [];
  failReleases = false;
  unreplicated = false;

  override async acquire(
    user: UserKeys,
    token: string,
    request: AcquireRequest,
  ): Promise<AcquireResult> {
    if (this.holdAcquires) await new Promise<void>((go) => this.heldAcquires.push(go));
    if (this.unreplicated) return { state: 'unreplicated', acks: 0, replicas: 1 };
    return super.acquire(user, token, request);
  }

  override release(user: UserKeys, token: string): Promise<boolean> {
    if (this.failReleases) return Promise.reject(new Error('connection lost'));
    return super.release(user, token);
  }
}

interface Setup {
  flights: Flights;
  store: TestStore;
  warnings: string[];
  events: LoadStatusEvent[];
  /** What `core.beginShutdown()` does for `Flights`: `isClosing` turns true. */
  close(): void;
}

function setup(): Setup {
  const store = new TestStore('memory:flights-spec');
  const warnings: string[] = [];
  const logger: LoadStatusLogger = {
    debug: () => undefined,
    log: () => undefined,
    warn: (message) => void warnings.push(message),
    error: (message) => void warnings.push(message),
  };
  const events: LoadStatusEvent[] = [];
  const stream = new LoadStatusEvents('instance-1', logger);
  stream.events$.subscribe((event) => void events.push(event));
  let closing = false;
  // The part of the core `Flights` and `HeldLoadLock` read.
  const core = {
    instanceId: 'instance-1',
    store,
    events: stream,
    logger,
    get isClosing() {
      return closing;
    },
  } as unknown as LoadStatusCore;
  return { flights: new Flights(core), store, warnings, events, close: () => (closing = true) };
}

/** The store's lock on `userId` is free: a new token takes it. */
async function lockIsFree(store: MemoryLoadStore, userId: string): Promise<boolean> {
  const result = await store.acquire(keys.forUser(userId), 'probe', {
    ttlMs: 1_000,
    checkFlag: false,
  });
  return result.state === 'acquired';
}

/** Takes the store's lock on `userId` and tracks it as `Flights.holding` does. */
async function hold(
  { flights, store }: Setup,
  userId: string,
  { leaseLeftMs = 60_000, loader }: { leaseLeftMs?: number; loader?: AbortController } = {},
): Promise<HeldLoadLock> {
  const token = flights.nextToken();
  const user = keys.forUser(userId);
  const result = await store.acquire(user, token, { ttlMs: 60_000, checkFlag: false });
  if (result.state !== 'acquired') throw new Error(`lock on ${userId} not acquired`);
  const lock = new HeldLoadLock(flights.core, {
    userId,
    keys: user,
    token,
    ttlMs: 60_000,
    // A lease that started long enough ago to have `leaseLeftMs` left (negative: ran out).
    grant: { ...result, sentAt: performance.now() - 60_000 + leaseLeftMs },
    onReleased: (l) => flights.released(l),
  });
  flights.holding(lock, loader);
  return lock;
}

describe('Flights: a registration’s bookkeeping', () => {
  it('shares a flight per user until it settles, then forgets it, resolved or rejected', async () => {
    const { flights } = setup();
    let finish!: (outcome: LoadOutcome<number>) => void;
    const shared = flights.start(
      'u1',
      new Promise<LoadOutcome<number>>((resolve) => (finish = resolve)),
    );
    expect(flights.running('u1')).toBe(shared);
    expect(flights.running('u2')).toBeUndefined();
    expect(flights.counts.flights).toBe(1);
    finish({ status: 'loaded-elsewhere', waitedMs: 5 });
    await shared;
    expect(flights.running('u1')).toBeUndefined();
    expect(flights.counts.flights).toBe(0);

    const failed = flights.start('u1', Promise.reject(new Error('loader failed')));
    expect(flights.counts.flights).toBe(1);
    await expect(failed).rejects.toThrow('loader failed');
    expect(flights.running('u1')).toBeUndefined();
    expect(flights.counts).toEqual({ flights: 0, held: 0, unlocked: 0, acquiring: 0 });
  });

  it('hands out tokens unique to the registration, named by its instance', () => {
    const { flights } = setup();
    const tokens = [flights.nextToken(), flights.nextToken(), flights.nextToken()];
    expect(tokens).toEqual(['instance-1:1', 'instance-1:2', 'instance-1:3']);
  });

  it('tracks an acquire until it settles, answered or failed', async () => {
    const s = setup();
    const { flights, store } = s;
    store.holdAcquires = true;
    const first = flights.acquire(keys.forUser('u1'), flights.nextToken(), {
      ttlMs: 1_000,
      checkFlag: false,
    });
    expect(flights.counts.acquiring).toBe(1);
    await new Promise(setImmediate);
    store.heldAcquires.shift()!();
    await expect(first).resolves.toMatchObject({ state: 'acquired' });
    expect(flights.counts.acquiring).toBe(0);

    store.holdAcquires = false;
    jest.spyOn(store, 'acquire').mockRejectedValueOnce(new Error('store down'));
    const failed = flights.acquire(keys.forUser('u2'), flights.nextToken(), {
      ttlMs: 1_000,
      checkFlag: false,
    });
    expect(flights.counts.acquiring).toBe(1);
    await expect(failed).rejects.toThrow('store down');
    expect(flights.counts.acquiring).toBe(0);
  });

  it('reports an unreplicated lock as lock-unreplicated, with its acks, and nothing else', async () => {
    const s = setup();
    await s.flights.acquire(keys.forUser('u0'), s.flights.nextToken(), {
      ttlMs: 1_000,
      checkFlag: false,
    });
    expect(s.events).toEqual([]); // a grant is the flow's to announce
    s.store.unreplicated = true;
    const user = keys.forUser('u1');
    await expect(
      s.flights.acquire(user, s.flights.nextToken(), { ttlMs: 1_000, checkFlag: false }),
    ).resolves.toEqual({ state: 'unreplicated', acks: 0, replicas: 1 });
    expect(s.events).toEqual([
      expect.objectContaining({
        type: 'lock-unreplicated',
        userId: 'u1',
        load: undefined,
        acks: 0,
        replicas: 1,
      }),
    ]);
  });

  it('gives back a lock won after shutdown began, and the call fails', async () => {
    const s = setup();
    s.store.holdAcquires = true;
    const won = s.flights.acquire(keys.forUser('u1'), s.flights.nextToken(), {
      ttlMs: 60_000,
      checkFlag: false,
    });
    await new Promise(setImmediate);
    s.close();
    s.store.heldAcquires.shift()!();
    const error = await won.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoadStatusShutdownError);
    expect((error as LoadStatusShutdownError).userId).toBe('u1');
    s.store.holdAcquires = false;
    expect(await lockIsFree(s.store, 'u1')).toBe(true);
    expect(s.warnings).toEqual([]);

    // An answer other than a grant is not the shutdown's business.
    await expect(
      s.flights.acquire(keys.forUser('u1'), s.flights.nextToken(), {
        ttlMs: 60_000,
        checkFlag: false,
      }),
    ).resolves.toMatchObject({ state: 'held' });
  });

  it('still fails the call when the lock won during shutdown cannot be given back, and says so', async () => {
    const s = setup();
    s.close();
    s.store.failReleases = true;
    await expect(
      s.flights.acquire(keys.forUser('u1'), s.flights.nextToken(), {
        ttlMs: 60_000,
        checkFlag: false,
      }),
    ).rejects.toBeInstanceOf(LoadStatusShutdownError);
    expect(s.warnings).toEqual(['could not give back a lock won during shutdown: connection lost']);
    expect(s.flights.counts.acquiring).toBe(0);
  });

  it('tracks a held lock until it is released or settled', async () => {
    const s = setup();
    const released = await hold(s, 'u1');
    const settled = await hold(s, 'u2', { loader: new AbortController() });
    expect(s.flights.counts.held).toBe(2);
    await released.release();
    expect(s.flights.counts.held).toBe(1);
    settled.settled();
    expect(s.flights.counts.held).toBe(0);
  });

  it('forgets manual locks whose lease ran out every 64 manual acquires, and only those', async () => {
    const s = setup();
    const loader = new AbortController();
    // 63 manual locks whose lease ran out: no sweep yet.
    for (let i = 0; i < 63; i++) await hold(s, `expired-${i}`, { leaseLeftMs: -1 });
    expect(s.flights.counts.held).toBe(63);
    // Locks held by a loader neither count towards the sweep nor are swept, ran out or not.
    await hold(s, 'loader-expired', { leaseLeftMs: -1, loader });
    for (let i = 0; i < 10; i++) await hold(s, `loader-${i}`, { loader });
    expect(s.flights.counts.held).toBe(74);
    // The 64th manual acquire sweeps before it is tracked: the 63 go, the rest stay.
    const live = await hold(s, 'live');
    expect(s.flights.counts.held).toBe(12);
    // The count starts again: 63 more manual locks (expired) are kept until the next 64th.
    for (let i = 0; i < 63; i++) await hold(s, `again-${i}`, { leaseLeftMs: -1 });
    expect(s.flights.counts.held).toBe(75);
    await hold(s, 'last');
    expect(s.flights.counts.held).toBe(13);
    // What stayed is still held: shutdown releases it.
    s.close();
    await s.flights.shutdown();
    expect(live.isReleased).toBe(true);
    expect(s.flights.counts.held).toBe(0);
  });

  it('keeps a manual lock whose lease has not run out through a sweep', async () => {
    const s = setup();
    await hold(s, 'live', { leaseLeftMs: 60_000 });
    for (let i = 0; i < 63; i++) await hold(s, `expired-${i}`, { leaseLeftMs: -1 });
    // The 64th swept the 62 before it and is tracked after the sweep.
    expect(s.flights.counts.held).toBe(2);
  });

  it('tracks a loader run without the lock while it runs, and passes its value and error on', async () => {
    const { flights } = setup();
    let seen = -1;
    await expect(
      flights.unlockedLoad(() => {
        seen = flights.counts.unlocked;
        return Promise.resolve('value');
      }),
    ).resolves.toBe('value');
    expect(seen).toBe(1);
    expect(flights.counts.unlocked).toBe(0);
    await expect(
      flights.unlockedLoad(() => Promise.reject(new Error('loader failed'))),
    ).rejects.toThrow('loader failed');
    expect(flights.counts.unlocked).toBe(0);
  });

  it('at shutdown waits for acquires in flight, then aborts every loader and releases every lock', async () => {
    const s = setup();
    const order: string[] = [];
    const manual = await hold(s, 'manual');
    const loader = new AbortController();
    loader.signal.addEventListener('abort', () => order.push('loader aborted'));
    const underLoader = await hold(s, 'loaded', { loader });
    let unlockedSignal!: AbortSignal;
    let endUnlocked!: () => void;
    const unlocked = s.flights.unlockedLoad(async (signal) => {
      unlockedSignal = signal;
      signal.addEventListener('abort', () => order.push('unlocked aborted'));
      await new Promise<void>((resolve) => (endUnlocked = resolve));
    });

    s.store.holdAcquires = true;
    const inFlight = s.flights.acquire(keys.forUser('late'), s.flights.nextToken(), {
      ttlMs: 60_000,
      checkFlag: false,
    });
    void inFlight.catch(() => order.push('late acquire failed'));
    await new Promise(setImmediate);
    s.close();
    const shutdown = s.flights.shutdown().then(() => order.push('shutdown done'));
    await new Promise(setImmediate);
    expect(order).toEqual([]);

    order.push('acquire answered');
    s.store.heldAcquires.shift()!();
    await shutdown;
    expect(order).toEqual([
      'acquire answered',
      'late acquire failed',
      'unlocked aborted',
      'loader aborted',
      'shutdown done',
    ]);
    expect(unlockedSignal.reason).toBeInstanceOf(LoadStatusShutdownError);
    expect(loader.signal.reason).toEqual(new LoadStatusShutdownError('loaded'));
    expect(manual.isReleased && underLoader.isReleased).toBe(true);
    s.store.holdAcquires = false;
    for (const userId of ['manual', 'loaded', 'late'])
      expect(await lockIsFree(s.store, userId)).toBe(true);
    expect(s.flights.counts).toEqual({ flights: 0, held: 0, unlocked: 1, acquiring: 0 });
    endUnlocked();
    await unlocked;
    expect(s.flights.counts.unlocked).toBe(0);
  });

  it('at shutdown releases the other locks when one release fails, and logs that one', async () => {
    const s = setup();
    const first = await hold(s, 'first');
    const second = await hold(s, 'second');
    jest.spyOn(first, 'release').mockRejectedValueOnce(new Error('connection lost'));
    s.close();
    await s.flights.shutdown();
    expect(second.isReleased).toBe(true);
    expect(await lockIsFree(s.store, 'second')).toBe(true);
    expect(s.warnings).toEqual([
      'could not release the lock of user "first" at shutdown: connection lost',
    ]);
  });
});
