/**
 * The wrappers' base as a unit: a `DelegatingLoadStore` that overrides nothing forwards every
 * member of the port to the store it wraps, with the arguments as given (requests whole) and the
 * answer as returned. The near-cache and cache-manager wrappers override most members, so only
 * this spec reaches the defaults a new wrapper would inherit.
 */
import { KeyBuilder, NoticeKind } from '../../src/keys';
import { DelegatingLoadStore } from '../../src/stores/delegating-load-store';
import type { LoadStore, StoreListener } from '../../src/stores/load-store';

class PassThrough extends DelegatingLoadStore {}

/** Every method of the port but `bootRejection`, which only the guard asks (not forwarded). */
type Method = Exclude<
  {
    [K in keyof LoadStore]-?: NonNullable<LoadStore[K]> extends (...args: never[]) => unknown
      ? K
      : never;
  }[keyof LoadStore],
  'bootRejection'
>;

const user = new KeyBuilder('delegating-unit').forUser('user-1');
const listener: StoreListener = { notice: () => undefined, resubscribed: () => undefined };

/** Every method of the port, with arguments to call it with. */
const CALLS: { [K in Method]: Parameters<NonNullable<LoadStore[K]>> } = {
  init: [listener],
  flagTtl: [user, 250],
  setLoaded: [user, 5_000],
  clearLoaded: [user],
  acquire: [user, 'token', { ttlMs: 5_000, checkFlag: true, refreshAheadMs: 100, rideOut: true }],
  extend: [user, 'token', 5_000],
  release: [user, 'token'],
  finish: [user, 'token', { loadedTtlMs: 5_000, generation: '3', rideOut: true }],
  clearAllLoaded: [],
  clearLoad: ['profile'],
  registerLoad: ['profile'],
  loadNames: [],
  finishLock: [user, 'token'],
  publish: [NoticeKind.Loaded, user],
  reset: [],
  ping: [],
  close: [],
};

describe('DelegatingLoadStore', () => {
  it.each(Object.keys(CALLS) as Method[])(
    'forwards %s to the wrapped store as given, and answers what it answered',
    async (method) => {
      const answer = { answered: method };
      const received: unknown[][] = [];
      const inner = {
        [method]: (...args: unknown[]) => {
          received.push(args);
          return Promise.resolve(answer);
        },
      } as unknown as LoadStore;
      const store = new PassThrough(inner) as unknown as Record<
        Method,
        (...args: unknown[]) => Promise<unknown>
      >;
      await expect(store[method](...CALLS[method])).resolves.toBe(answer);
      expect(received).toEqual([CALLS[method]]);
      // Requests are the caller's own objects, passed on whole.
      const objects = (args: readonly unknown[]) => args.filter((a) => typeof a === 'object');
      objects(received[0]).forEach((arg, i) => expect(arg).toBe(objects(CALLS[method])[i]));
    },
  );

  it('does not forward bootRejection: only the guard asks it, of the store it guards', () => {
    const inner = { bootRejection: () => undefined } as unknown as LoadStore;
    expect((new PassThrough(inner) as LoadStore).bootRejection).toBeUndefined();
  });

  it("answers the wrapped store's kind, health, notice path and rejection", () => {
    const rejection = { kind: 'rejected', reason: 'noperm', fix: 'grant it' };
    const inner = {
      kind: 'redis',
      isDegraded: true,
      notificationsLive: false,
      notices: { mode: 'sharded' },
      rejection,
    } as unknown as LoadStore;
    const store = new PassThrough(inner);
    expect([
      store.kind,
      store.isDegraded,
      store.notificationsLive,
      store.notices,
      store.rejection,
    ]).toEqual(['redis', true, false, { mode: 'sharded' }, rejection]);
  });
});
