import {
  InvalidUserIdError,
  LoadStatusConfigError,
  LoadStatusError,
  type LoadLock,
} from '../../src';
import { startApp, type TestApp } from '../support/apps';
import { inspector, redisUrl, uniquePrefix } from '../support/env';

const badUserIds: Array<[string, unknown]> = [
  ['empty', ''],
  ['whitespace only', ' \t\n '],
  ['an object', { id: 1 }],
  ['an array', ['u']],
  ['null', null],
  ['undefined', undefined],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['a boolean', true],
  ['a bigint', 1n],
  ['a symbol', Symbol('u')],
  ['1025 characters', 'x'.repeat(1025)],
  ['a lone surrogate', 'user\udc00'],
];

const badTtls: Array<[string, unknown]> = [
  ['negative', -1],
  ['zero', 0],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['fractional', 10.5],
  ['above 2^31-1', 2 ** 31],
  ['a string', '1000'],
  ['null', null],
];

describe('bad input at every public entry point (Redis store)', () => {
  let t: TestApp;
  let prefix: string;
  beforeAll(async () => {
    prefix = uniquePrefix('bad');
    t = await startApp({ redis: redisUrl(), keyPrefix: prefix });
  });
  afterAll(async () => {
    // Nothing any rejected call could have written: no key under the prefix but those of the one
    // valid lock taken on purpose below.
    const redis = inspector();
    try {
      expect((await redis.keys(`${prefix}:*`)).filter((key) => !key.includes(':real:'))).toEqual(
        [],
      );
    } finally {
      await redis.quit();
      await t.close();
    }
  });

  const loader = jest.fn(() => Promise.resolve());
  afterEach(() => expect(loader).not.toHaveBeenCalled());

  it.each(badUserIds)(
    'rejects a user id that is %s with InvalidUserIdError everywhere',
    async (_label, id) => {
      const userId = id as string;
      const calls: Array<() => Promise<unknown>> = [
        () => t.status.isLoaded(userId),
        () => t.status.setLoaded(userId),
        () => t.status.clearLoaded(userId),
        () => t.status.waitForLoad(userId, { timeoutMs: 10 }),
        () => t.lock.acquireLoadLock(userId),
        () => t.lock.ensureLoaded(userId, loader),
      ];
      for (const call of calls) {
        const error = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(InvalidUserIdError);
        expect(error).toBeInstanceOf(LoadStatusError);
      }
    },
  );

  it.each(badTtls)(
    'rejects a TTL that is %s with LoadStatusConfigError naming it',
    async (_label, ttl) => {
      const ms = ttl as number;
      await expect(t.status.setLoaded('u', ms)).rejects.toThrow(/"ttlMs"/);
      await expect(t.lock.acquireLoadLock('u', ms)).rejects.toThrow(/"ttlMs"/);
      await expect(t.lock.ensureLoaded('u', loader, { loadedTtlMs: ms })).rejects.toThrow(
        /"loadedTtlMs"/,
      );
      await expect(t.lock.ensureLoaded('u', loader, { lockTtlMs: ms })).rejects.toThrow(
        /"lockTtlMs"/,
      );
      await expect(t.status.waitForLoad('u', { timeoutMs: ms === 0 ? -1 : ms })).rejects.toThrow(
        LoadStatusConfigError,
      );
    },
  );

  it.each<[string, unknown]>([
    ['empty', ''],
    ['whitespace only', '  '],
    ['a number', 7],
    ['null', null],
    ['257 characters', 'n'.repeat(257)],
    ['a lone surrogate', 'load\udc00'],
  ])(
    'rejects a load name that is %s with LoadStatusConfigError everywhere',
    async (_label, bad) => {
      const name = bad as string;
      const calls: Array<() => Promise<unknown>> = [
        () => t.status.isLoaded('u', { name }),
        () => t.status.setLoaded('u', { name }),
        () => t.status.clearLoaded('u', { name }),
        () => t.status.waitForLoad('u', { timeoutMs: 10, name }),
        () => t.lock.acquireLoadLock('u', { name }),
        () => t.lock.ensureLoaded('u', loader, { name }),
      ];
      for (const call of calls) {
        await expect(call()).rejects.toThrow(/"name": expected a load name/);
      }
    },
  );

  it('rejects bad ensureLoaded options and loaders', async () => {
    await expect(t.lock.ensureLoaded('u', loader, { waitTimeoutMs: -1 })).rejects.toThrow(
      /"waitTimeoutMs"/,
    );
    await expect(
      t.lock.ensureLoaded('u', loader, { onWaitTimeout: 'later' as never }),
    ).rejects.toThrow(/"onWaitTimeout"/);
    await expect(t.lock.ensureLoaded('u', loader, null as never)).rejects.toThrow(/"options"/);
    await expect(t.lock.ensureLoaded('u', undefined as never)).rejects.toThrow(
      /"loader": expected a function/,
    );
  });

  it('rejects a lock that did not come from acquireLoadLock, and a bad extend TTL', async () => {
    const forged: LoadLock = {
      userId: 'u',
      token: 'guess',
      fencingToken: 1,
      extend: () => Promise.resolve(true),
      release: () => Promise.resolve(true),
    };
    await expect(t.lock.releaseLoadLock(forged)).rejects.toThrow(
      /"lock": expected a LoadLock returned by acquireLoadLock/,
    );
    const lock = await t.lock.acquireLoadLock('real');
    try {
      await expect(lock!.extend(-5)).rejects.toThrow(/"ttlMs"/);
    } finally {
      await lock!.release();
    }
  });
});
