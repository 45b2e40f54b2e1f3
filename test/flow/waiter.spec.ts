/**
 * The Waiter's own rules, as a unit (the flow tests reach it through real stores, but not every
 * rule: a notice between the read and the wait, the holder judging, the timer, the cleanup).
 * Found by mutation testing: these rules survived every flow test run under Stryker.
 */
import { getEventListeners } from 'node:events';
import { NoticeKind } from '../../src/keys';
import { WaiterRegistry } from '../../src/waiter';

const { Loaded, Released } = NoticeKind;

describe('Waiter', () => {
  let registry: WaiterRegistry;
  beforeEach(() => {
    registry = new WaiterRegistry();
  });
  afterEach(() => jest.useRealTimers());

  it('keeps a notice that arrives between the read and the wait, and forgets it at the next arm()', async () => {
    const waiter = registry.watch('u');
    waiter.arm();
    registry.notify('u', Released);
    await expect(waiter.wait(60_000)).resolves.toBe(Released);
    // Taken once: the next wait needs a new notice.
    jest.useFakeTimers();
    registry.notify('u', Released);
    waiter.arm();
    const next = waiter.wait(20);
    let settled = false;
    void next.then(() => (settled = true));
    await jest.advanceTimersByTimeAsync(19);
    expect(settled).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    await expect(next).resolves.toBe('timer');
    waiter.dispose();
  });

  it("keeps 'loaded' over a release, whichever came first", async () => {
    const waiter = registry.watch('u');
    waiter.arm();
    registry.notify('u', Loaded);
    registry.notify('u', Released);
    await expect(waiter.wait(1_000)).resolves.toBe(Loaded);
    waiter.arm();
    registry.notify('u', Released);
    registry.notify('u', Loaded);
    await expect(waiter.wait(1_000)).resolves.toBe(Loaded);
    waiter.dispose();
  });

  describe("judges a 'loaded' notice by the holder the caller saw", () => {
    it('while the holder is unknown, any one ends the wait', async () => {
      const waiter = registry.watch('u');
      waiter.arm();
      registry.notify('u', Loaded, 'someone');
      await expect(waiter.wait(1_000)).resolves.toBe(Loaded);
      waiter.dispose();
    });

    it("kept before the wait: the awaited holder's ends it, another's or none re-checks", async () => {
      const waiter = registry.watch('u');
      for (const [from, expected] of [
        ['A', Loaded],
        ['B', Released],
        [undefined, Released],
      ] as const) {
        waiter.arm();
        registry.notify('u', Loaded, from);
        // The holder is learnt from the read's reply, after the notice came in.
        waiter.awaiting('A');
        await expect(waiter.wait(1_000)).resolves.toBe(expected);
      }
      // A release that names A does not make a later 'loaded' from B count as A's.
      waiter.arm();
      registry.notify('u', Released, 'A');
      registry.notify('u', Loaded, 'B');
      await expect(waiter.wait(1_000)).resolves.toBe(Released);
      waiter.dispose();
    });

    it('arriving during the wait: the same rule', async () => {
      const waiter = registry.watch('u');
      waiter.awaiting('A');
      waiter.arm();
      const first = waiter.wait(60_000);
      registry.notify('u', Loaded, 'B');
      await expect(first).resolves.toBe(Released);
      waiter.arm();
      const second = waiter.wait(60_000);
      registry.notify('u', Loaded, 'A');
      await expect(second).resolves.toBe(Loaded);
      waiter.dispose();
    });
  });

  it('rejects with the signal reason on abort, and leaves no listener on the signal once a wait ends', async () => {
    const waiter = registry.watch('u');
    const controller = new AbortController();
    waiter.arm();
    const aborted = waiter.wait(60_000, controller.signal);
    controller.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');

    const other = new AbortController();
    const woken = waiter.wait(60_000, other.signal);
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(1);
    registry.notify('u', Released);
    await expect(woken).resolves.toBe(Released);
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
    waiter.dispose();
  });

  it('rejects at once a wait given an already aborted signal', async () => {
    const waiter = registry.watch('u');
    waiter.arm();
    await expect(waiter.wait(60_000, AbortSignal.abort(new Error('already')))).rejects.toThrow(
      'already',
    );
    waiter.dispose();
  });

  it('fails the wait in progress and every later one', async () => {
    const waiter = registry.watch('u');
    waiter.arm();
    const waiting = waiter.wait(60_000);
    registry.failAll((tag) => new Error(`closing ${tag}`));
    await expect(waiting).rejects.toThrow('closing u');
    await expect(waiter.wait(1)).rejects.toThrow('closing u');
    waiter.dispose();
  });

  it('tells every waiter of a user, and forgets a user once its last waiter is disposed', async () => {
    const a = registry.watch('u');
    const b = registry.watch('u');
    const other = registry.watch('v');
    expect(registry.size).toBe(2);
    // The first waiter still hears of the user after a second one watched it.
    a.arm();
    registry.notify('u', Released);
    await expect(a.wait(1_000)).resolves.toBe(Released);
    a.dispose();
    expect(registry.size).toBe(2); // b still waits on u
    b.arm();
    registry.notify('u', Released);
    await expect(b.wait(1_000)).resolves.toBe(Released);
    b.dispose();
    expect(registry.size).toBe(1);
    other.dispose();
    expect(registry.size).toBe(0);
    registry.notify('u', Loaded); // nobody left: nothing to do, nothing thrown
    // A user watched again after that starts a fresh set.
    const again = registry.watch('u');
    again.arm();
    registry.notify('u', Released);
    await expect(again.wait(1_000)).resolves.toBe(Released);
    again.dispose();
    expect(registry.size).toBe(0);
  });
});
