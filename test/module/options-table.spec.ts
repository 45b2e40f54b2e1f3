/**
 * The options table (`src/options/table.ts`) as each surface reads it: which options the module,
 * a call (`ensureLoaded`) and the decorators take, the rules that relate two options, and the
 * exact texts of the errors (the README's troubleshooting section quotes them).
 */
import 'reflect-metadata';
import { LoadStatusConfigError, WithLoadLock, WithUserLoadLock } from '../../src';
import { callSettings } from '../../src/options/call-options';
import { resolveOptions } from '../../src/options/module-options';

/** The message of what `run` throws (a LoadStatusConfigError), to compare whole. */
function errorOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(LoadStatusConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a LoadStatusConfigError, and nothing was thrown');
}

const invalid = (option: string, problem: string) =>
  `Invalid load-status option "${option}": ${problem}.`;

const MODULE_ONLY = [
  'redis',
  'pollIntervalMs',
  'onStoreError',
  'commandTimeoutMs',
  'outageGraceMs',
  'waitForReplicas',
  'nearCache',
  'cache',
  'store',
];
const DECORATOR_OPTIONS =
  'name, keyPrefix, loadedTtlMs, lockTtlMs, waitTimeoutMs, onWaitTimeout, refreshAheadMs';

describe('which surface takes which option', () => {
  it('the module lists the options it knows, in table order', () => {
    expect(errorOf(() => resolveOptions({ name: 'servers' } as never))).toBe(
      invalid(
        'name',
        'unknown option; known options are redis, keyPrefix, loadedTtlMs, lockTtlMs, waitTimeoutMs, pollIntervalMs, onWaitTimeout, onStoreError, commandTimeoutMs, outageGraceMs, refreshAheadMs, waitForReplicas, nearCache, cache, store',
      ),
    );
  });

  it.each(MODULE_ONLY)('the decorators refuse the module-only option %s', (option) => {
    expect(errorOf(() => WithUserLoadLock({ [option]: 1 }))).toBe(
      invalid(
        `@WithUserLoadLock({ ${option} })`,
        `unknown option; known options are userId, ${DECORATOR_OPTIONS}`,
      ),
    );
    expect(errorOf(() => WithLoadLock({ [option]: 1 }))).toBe(
      invalid(
        `@WithLoadLock({ ${option} })`,
        `unknown option; known options are key, ${DECORATOR_OPTIONS}`,
      ),
    );
  });

  it('a call reads only its own options over the module values, and carries outageGraceMs', () => {
    const module = resolveOptions({ lockTtlMs: 4_000, outageGraceMs: 7_000 });
    expect(callSettings({ waitTimeoutMs: 0, onWaitTimeout: 'run' }, module)).toEqual({
      loadedTtlMs: 3_600_000,
      lockTtlMs: 4_000,
      waitTimeoutMs: 0,
      onWaitTimeout: 'run',
      refreshAheadMs: 0,
      outageGraceMs: 7_000,
    });
  });

  it('a decorator checks keyPrefix only as a registration name, and takes a loadedTtlMs function', () => {
    expect(() => WithUserLoadLock({ keyPrefix: 'a b' })).not.toThrow();
    expect(errorOf(() => resolveOptions({ keyPrefix: 'a b' }))).toMatch(/^Invalid .*"keyPrefix"/);
    expect(errorOf(() => WithUserLoadLock({ keyPrefix: '' }))).toBe(
      invalid('@WithUserLoadLock({ keyPrefix })', 'expected a non-empty string, got ""'),
    );
    expect(() => WithLoadLock({ loadedTtlMs: () => 5 })).not.toThrow();
    expect(
      errorOf(() => callSettings({ loadedTtlMs: (() => 5) as never }, resolveOptions({}))),
    ).toBe(
      invalid(
        'loadedTtlMs',
        'expected a whole number of milliseconds from 1 to 2147483647, got function',
      ),
    );
  });

  it.each<[string, number]>([
    ['lockTtlMs', 30],
    ['waitTimeoutMs', 0],
    ['loadedTtlMs', 1],
    ['refreshAheadMs', 0],
  ])('%s has one minimum (%d) on every surface that takes it', (option, min) => {
    const problem = `expected a whole number of milliseconds from ${min} to 2147483647, got ${min - 1}`;
    expect(errorOf(() => resolveOptions({ [option]: min - 1 }))).toBe(invalid(option, problem));
    expect(errorOf(() => callSettings({ [option]: min - 1 }, resolveOptions({})))).toBe(
      invalid(option, problem),
    );
    expect(errorOf(() => WithLoadLock({ [option]: min - 1 }))).toBe(
      invalid(`@WithLoadLock({ ${option} })`, problem),
    );
  });
});

describe('rules between two options', () => {
  it('refreshAheadMs must be below loadedTtlMs, on the module and per call', () => {
    const problem = (ttl: number, ms: number) =>
      `expected less than loadedTtlMs (${ttl}), got ${ms}: every call would refresh`;
    expect(errorOf(() => resolveOptions({ loadedTtlMs: 1_000, refreshAheadMs: 1_000 }))).toBe(
      invalid('refreshAheadMs', problem(1_000, 1_000)),
    );
    const module = resolveOptions({ loadedTtlMs: 60_000, refreshAheadMs: 5_000 });
    expect(errorOf(() => callSettings({ loadedTtlMs: 500, refreshAheadMs: 600 }, module))).toBe(
      invalid('refreshAheadMs', problem(500, 600)),
    );
    // The module's window under a call's shorter loadedTtlMs is off for that call, not an error.
    expect(callSettings({ loadedTtlMs: 5_000 }, module).refreshAheadMs).toBe(0);
    expect(callSettings({ loadedTtlMs: 5_001 }, module).refreshAheadMs).toBe(5_000);
    // A decorator cannot know the loadedTtlMs in force: it checks the duration alone.
    expect(() => WithLoadLock({ loadedTtlMs: 100, refreshAheadMs: 200 })).not.toThrow();
  });

  it('waitForReplicas.timeoutMs must be below commandTimeoutMs', () => {
    expect(
      errorOf(() => resolveOptions({ waitForReplicas: { replicas: 1, timeoutMs: 1_000 } })),
    ).toBe(
      invalid('waitForReplicas.timeoutMs', 'expected less than commandTimeoutMs (1000), got 1000'),
    );
    expect(
      resolveOptions({
        commandTimeoutMs: 2_000,
        waitForReplicas: { replicas: 2, timeoutMs: 1_000 },
      }).waitForReplicas,
    ).toEqual({ replicas: 2, timeoutMs: 1_000 });
    expect(resolveOptions({ waitForReplicas: { replicas: 1 } }).waitForReplicas).toEqual({
      replicas: 1,
      timeoutMs: 100,
    });
  });

  it('with cache given, nearCache is off and not read', () => {
    const cache = { get: jest.fn(), set: jest.fn(), del: jest.fn(), ttl: jest.fn() };
    expect(resolveOptions({ cache, nearCache: 'bogus' as never }).nearCache).toBe(false);
    expect(resolveOptions({ cache, nearCache: true }).nearCache).toBe(false);
  });

  it('store agrees with redis', () => {
    expect(resolveOptions({}).storeChosen).toBe(false);
    expect(resolveOptions({ store: 'memory' }).storeChosen).toBe(true);
    expect(resolveOptions({ redis: 'redis://localhost:1' }).storeChosen).toBe(true);
    expect(errorOf(() => resolveOptions({ store: 'redis' }))).toMatch(/"store": 'redis' needs/);
  });
});

describe('the texts of the nested options', () => {
  it.each<[string, unknown, string, string]>([
    ['nearCache', 5, 'nearCache', 'expected a boolean or { maxEntries, maxAgeMs }, got 5'],
    [
      'nearCache',
      { size: 1 },
      'nearCache.size',
      'unknown option; known options are maxEntries, maxAgeMs',
    ],
    [
      'nearCache',
      { maxEntries: 0 },
      'nearCache.maxEntries',
      'expected a whole number from 1 to 10000000, got 0',
    ],
    [
      'nearCache',
      { maxAgeMs: 0 },
      'nearCache.maxAgeMs',
      'expected a whole number of milliseconds from 1 to 2147483647, got 0',
    ],
    ['waitForReplicas', [], 'waitForReplicas', 'expected { replicas, timeoutMs? }, got an array'],
    [
      'waitForReplicas',
      { replicas: 1, wait: 1 },
      'waitForReplicas.wait',
      'unknown option; known options are replicas, timeoutMs',
    ],
    [
      'waitForReplicas',
      { replicas: 101 },
      'waitForReplicas.replicas',
      'expected a whole number from 1 to 100, got 101',
    ],
    [
      'waitForReplicas',
      { replicas: 1, timeoutMs: 0 },
      'waitForReplicas.timeoutMs',
      'expected a whole number of milliseconds from 1 to 2147483647, got 0',
    ],
    [
      'cache',
      {},
      'cache',
      "expected true (the app's CACHE_MANAGER) or a cache-manager Cache with get, set, del and ttl, got object",
    ],
  ])('%s: %j names %s', (option, value, named, problem) => {
    expect(errorOf(() => resolveOptions({ [option]: value }))).toBe(invalid(named, problem));
  });

  it('nearCache: true, absent or sized', () => {
    const defaults = { maxEntries: 10_000, maxAgeMs: 10_000 };
    expect(resolveOptions({}).nearCache).toEqual(defaults);
    expect(resolveOptions({ nearCache: true }).nearCache).toEqual(defaults);
    expect(resolveOptions({ nearCache: { maxEntries: 5 } }).nearCache).toEqual({
      maxEntries: 5,
      maxAgeMs: 10_000,
    });
    expect(resolveOptions({ nearCache: false }).nearCache).toBe(false);
  });
});
