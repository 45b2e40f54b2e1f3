/**
 * The chaos checker must catch what it is there to catch: made-up histories with one violation
 * each, and the same histories made legal by the event that ends the first lease.
 */
import type { CallerResult, LoadRecord } from '../fixtures/load-worker.protocol';
import { checkChaos, incarnationOf, TYPED_ERROR_NAMES, validLease } from './chaos-checker';

const T0 = 1_800_000_000_000; // ms since epoch
const run = (id: string, fields: Partial<LoadRecord>): LoadRecord => ({
  id,
  worker: `w-${id}`,
  pid: Number(id),
  runId: 1,
  userId: 'u',
  fencingToken: 1,
  start: T0,
  end: T0 + 100,
  ok: true,
  ...fields,
});
const caller = (fields: Partial<CallerResult>): CallerResult => ({
  worker: 'w',
  pid: 1,
  userId: 'u',
  ok: true,
  start: T0,
  end: T0 + 10,
  ms: 10,
  ...fields,
});
const history = (runs: LoadRecord[], extra: Partial<Parameters<typeof checkChaos>[0]> = {}) =>
  checkChaos({ runs, kills: [], outages: [], callers: [], ...extra });

describe('chaos checker', () => {
  it('accepts runs one after the other with increasing tokens', () => {
    const verdict = history([
      run('1', { fencingToken: 10 }),
      run('2', { fencingToken: 11, start: T0 + 100, end: T0 + 200 }),
    ]);
    expect(verdict.violations).toEqual([]);
  });

  it('flags two runs of one user overlapping under valid leases', () => {
    const verdict = history([
      run('1', { fencingToken: 10 }),
      run('2', { fencingToken: 11, start: T0 + 50, end: T0 + 150 }),
    ]);
    expect(verdict.violations).toEqual([
      expect.stringMatching(/both held a valid lease for 50 ms/),
    ]);
  });

  it("ends a lease at its process's SIGKILL, its signal's abort, or its Redis's death", () => {
    const next = run('2', { fencingToken: 11, start: T0 + 50, end: T0 + 150 });
    const first = run('1', { fencingToken: 10, end: undefined });
    expect(history([first, next], { kills: [{ pid: 1, at: T0 + 40 }] }).violations).toEqual([]);
    const aborted = run('1', { fencingToken: 10, abortedAt: T0 + 45, end: T0 + 120 });
    expect(history([aborted, next]).violations).toEqual([]);
    // Redis killed at +30 and restarted at +45: run 1's lease (token granted before) is gone;
    // run 2's token comes from the restarted Redis (seeded from its clock in µs).
    const reborn = run('2', { fencingToken: (T0 + 46) * 1000, start: T0 + 50, end: T0 + 150 });
    const outages = [{ killedAt: T0 + 30, restartedAt: T0 + 45 }];
    expect(
      history([run('1', { fencingToken: T0 * 1000 - 5 }), reborn], { outages }).violations,
    ).toEqual([]);
    // ...but a run whose token comes from the new Redis is not ended by the old one's death.
    expect(
      history(
        [
          run('1', { fencingToken: T0 * 1000 - 5 }),
          reborn,
          run('3', { fencingToken: (T0 + 46) * 1000 + 1, start: T0 + 60, end: T0 + 70 }),
        ],
        { outages },
      ).violations,
    ).toEqual([expect.stringMatching(/run 2 .* and run 3 .* both held a valid lease/)]);
  });

  it('attributes a token to the Redis incarnation whose clock range holds it', () => {
    const outages = [
      { killedAt: T0 + 1_000, restartedAt: T0 + 1_500 },
      { killedAt: T0 + 5_000, restartedAt: T0 + 5_300 },
    ];
    expect(incarnationOf(T0 * 1000, outages)).toBe(0);
    expect(incarnationOf((T0 + 1_600) * 1000, outages)).toBe(1);
    expect(incarnationOf((T0 + 6_000) * 1000 + 3, outages)).toBe(2);
    // A run that started after its Redis died never held a valid lease.
    const stale = run('1', { fencingToken: (T0 + 900) * 1000, start: T0 + 1_200, end: T0 + 1_400 });
    const lease = validLease(stale, [], outages);
    expect(lease.until).toBeLessThanOrEqual(lease.from);
  });

  it('flags fencing tokens that do not increase in start order', () => {
    const verdict = history([
      run('1', { fencingToken: 11 }),
      run('2', { fencingToken: 10, start: T0 + 100, end: T0 + 200 }),
    ]);
    expect(verdict.violations).toEqual([expect.stringMatching(/fencing token did not increase/)]);
  });

  it('flags a run that never ended in a process that was not killed', () => {
    expect(history([run('1', { end: undefined })]).violations).toEqual([
      expect.stringMatching(/never ended/),
    ]);
  });

  it('flags untyped caller errors and callers over budget, and counts errors by type', () => {
    const verdict = history([], {
      callers: [
        { caller: caller({}), budgetMs: 100 },
        { caller: caller({ ok: false, errorName: 'LoadStatusUnavailableError' }), budgetMs: 100 },
        { caller: caller({ ok: false, errorName: 'LoaderFailure' }), budgetMs: 100 },
        { caller: caller({ ok: false, errorName: 'TypeError' }), budgetMs: 100 },
        { caller: caller({ ms: 101 }), budgetMs: 100 },
      ],
    });
    expect(verdict.violations).toEqual([
      expect.stringMatching(/untyped error: TypeError/),
      expect.stringMatching(/took 101 ms \(budget 100 ms\)/),
    ]);
    expect(verdict.errorsByType).toEqual({
      LoadStatusUnavailableError: 1,
      LoaderFailure: 1,
      TypeError: 1,
    });
  });

  it('knows every typed error of the library by name', () => {
    expect([...TYPED_ERROR_NAMES].sort()).toEqual(
      expect.arrayContaining([
        'InvalidUserIdError',
        'LoadLeaseLostError',
        'LoadStatusError',
        'LoadStatusShutdownError',
        'LoadStatusUnavailableError',
        'LoadWaitTimeoutError',
        'LoaderFailure',
      ]),
    );
  });
});
