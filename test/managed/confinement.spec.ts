/**
 * Hostile input, against a real Redis: whatever id a caller passes — huge, control characters,
 * braces, lone surrogates, `__proto__`, another prefix's key names — the call either rejects
 * with InvalidUserIdError and writes nothing, or writes only that user's own keys under the
 * module's prefix (`<prefix>:{<group>}:<encoded id>:…`), never another user's, another prefix's, or an
 * object prototype. Hostile options get LoadStatusConfigError naming the option.
 */
import { resetLoadStatus } from '../../src/testing';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { InvalidUserIdError, LoadStatusConfigError } from '../../src';
import { resolveOptions } from '../../src/options/module-options';
import { normalizeUserId } from '../../src/validation';
import { startApp, type TestApp } from '../support/apps';
import { inspector, redisUrl, uniquePrefix, userKey } from '../support/env';

/** UTF-16 strings of any code units, lone surrogates and control characters included. */
const anyUnits = fc.string({
  unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  maxLength: 40,
});

const hostileId = fc.oneof(
  anyUnits,
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'hasOwnProperty',
    '{x}',
    '}{',
    'a}:{b',
    '\u0000',
    '\r\nFLUSHALL\r\n',
    '*',
    '?',
    '[a]',
    '\\',
    '%',
    '%7B',
    '%probe',
    'x'.repeat(1_024),
    'x'.repeat(1_025),
    'y'.repeat(100_000),
    'user\ud800',
    '\udc00',
    '',
    '   ',
    'other-prefix:{u}:loaded',
    '../../etc',
  ),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
);

type Operation = (t: TestApp, id: string) => Promise<unknown>;
const OPERATIONS: Array<[string, Operation]> = [
  ['ensureLoaded', (t, id) => t.lock.ensureLoaded(id, () => Promise.resolve(1))],
  ['setLoaded', (t, id) => t.status.setLoaded(id, 60_000)],
  ['clearLoaded', (t, id) => t.status.clearLoaded(id)],
  ['isLoaded', (t, id) => t.status.isLoaded(id)],
  ['waitForLoad', (t, id) => t.status.waitForLoad(id, { timeoutMs: 1 })],
  [
    'acquireLoadLock',
    async (t, id) => {
      const lock = await t.lock.acquireLoadLock(id);
      await lock?.release();
    },
  ],
];

async function allKeys(redis: Redis): Promise<Set<string>> {
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of batch) keys.add(key);
  } while (cursor !== '0');
  return keys;
}

describe('confinement of hostile input (Redis store)', () => {
  let t: TestApp;
  let redis: Redis;
  let prefix: string;
  beforeAll(async () => {
    prefix = uniquePrefix('hostile');
    t = await startApp({ redis: redisUrl(), keyPrefix: prefix });
    redis = inspector();
  });
  afterAll(async () => {
    await t.close();
    await redis.quit();
  });

  it('rejects an id with InvalidUserIdError and writes nothing, or writes only its own keys under the prefix', async () => {
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype);
    await fc.assert(
      fc.asyncProperty(hostileId, fc.constantFrom(...OPERATIONS), async (id, [, operation]) => {
        await resetLoadStatus(t.status);
        const before = await allKeys(redis);
        let valid = true;
        try {
          normalizeUserId(id);
        } catch {
          valid = false;
        }
        const outcome = await operation(t, id).then(
          () => undefined,
          (e: unknown) => e,
        );
        const written = [...(await allKeys(redis))].filter((k) => !before.has(k));
        // An invalid id: the typed error, and nothing written. A valid one: its own keys only.
        expect(outcome === undefined ? 'ok' : (outcome as Error).name).toBe(
          valid ? 'ok' : InvalidUserIdError.name,
        );
        const own = valid
          ? ['loaded', 'lock', 'fence', 'waiting', 'finished'].map((kind) =>
              userKey(prefix, id, kind as 'loaded'),
            )
          : [];
        expect(written.filter((k) => !own.includes(k))).toEqual([]);
        // No prototype was touched by an id such as __proto__ or constructor.
        expect(Object.getOwnPropertyNames(Object.prototype)).toEqual(prototypeBefore);
      }),
      { numRuns: 300 },
    );
  });
});

describe('hostile options', () => {
  const notADuration = fc.oneof(
    fc.double({ noInteger: true }),
    fc.constantFrom(NaN, Infinity, -Infinity, -1, 2 ** 31, Number.MAX_SAFE_INTEGER, -0.5, 0.1),
    fc.integer({ max: -1 }),
    fc.double({ min: 2 ** 31, max: Number.MAX_SAFE_INTEGER }).map(Math.floor),
    fc.constantFrom('1000', null, true, {}, [], () => 1),
  );
  const durations = [
    'loadedTtlMs',
    'lockTtlMs',
    'waitTimeoutMs',
    'pollIntervalMs',
    'commandTimeoutMs',
  ];

  it('rejects every non-duration for every duration option with LoadStatusConfigError naming it', () => {
    fc.assert(
      fc.property(fc.constantFrom(...durations), notADuration, (option, value) => {
        expect(() => resolveOptions({ [option]: value })).toThrow(LoadStatusConfigError);
        expect(() => resolveOptions({ [option]: value })).toThrow(`"${option}"`);
      }),
      { numRuns: 500 },
    );
  });

  it('accepts a prefix only without braces, whitespace, control or glob characters', () => {
    fc.assert(
      fc.property(anyUnits, (keyPrefix) => {
        const forbidden =
          keyPrefix.length === 0 ||
          // eslint-disable-next-line no-control-regex
          /[{}\s*?[\]\\\x00-\x1f\x7f]/.test(keyPrefix);
        let verdict = 'accepted';
        try {
          resolveOptions({ keyPrefix });
        } catch (error) {
          verdict = error instanceof LoadStatusConfigError ? 'rejected' : String(error);
        }
        expect(verdict).toBe(forbidden ? 'rejected' : 'accepted');
      }),
      { numRuns: 1_000 },
    );
  });

  it('fails the boot on a hostile option', async () => {
    await expect(startApp({ redis: redisUrl(), keyPrefix: 'app*' })).rejects.toThrow(
      LoadStatusConfigError,
    );
  });
});
