/**
 * The chaos checker must catch what it is there to catch: for each property, a made-up history
 * that breaks it, and its legal twin (the same history with the one fact that makes it legal).
 */
import type { CallerResult, LoadRecord } from '../fixtures/load-worker.protocol';
import {
  checkChaos,
  leaseOf,
  TYPED_ERROR_NAMES,
  type ChaosHistory,
  type RequestRecord,
} from './chaos-checker';

const T0 = 1_800_000_000_000; // ms since epoch
const LEASE_MS = 1_000;

/** A loader run holding a lease of incarnation `redis:A`, granted right before it started. */
function run(id: string, fields: Partial<LoadRecord> = {}): LoadRecord {
  const start = fields.start ?? T0;
  return {
    id,
    worker: `w${id}`,
    pid: Number(id),
    runId: 1,
    userId: 'u',
    fencingToken: 10,
    incarnation: 'redis:A',
    grantSentAt: start - 1,
    acquiredAt: start,
    leaseEndsAt: start - 1 + LEASE_MS,
    loadedTtlMs: 60_000,
    start,
    end: start + 100,
    ok: true,
    ...fields,
  };
}

function caller(fields: Partial<CallerResult> = {}): CallerResult {
  return {
    worker: 'w9',
    pid: 9,
    userId: 'u',
    ok: true,
    status: 'loaded',
    start: T0,
    end: T0 + 10,
    ms: 10,
    ...fields,
    // A caller begins its own flight unless a test says otherwise (or leaves the fact out).
    flightStart: 'flightStart' in fields ? fields.flightStart : (fields.start ?? T0),
  };
}

function request(callers: CallerResult[], fields: Partial<RequestRecord> = {}): RequestRecord {
  return {
    pid: 9,
    worker: 'w9',
    runId: 1,
    expected: callers.length,
    reported: callers,
    budgetMs: 20_000,
    ...fields,
  };
}

function check(history: Partial<ChaosHistory>) {
  return checkChaos({
    runs: [],
    requests: [],
    kills: [],
    stalls: [],
    outages: [],
    clocks: {},
    settings: { lockTtlMs: LEASE_MS, lossDetectionMs: 3_000 },
    ...history,
  });
}

describe('chaos checker: exclusion within one incarnation', () => {
  it('flags two leases of one incarnation that overlap, even by 2 ms (zero tolerance beyond the clock bound)', () => {
    const verdict = check({
      runs: [run('1', { end: T0 + 100 }), run('2', { start: T0 + 98, fencingToken: 11 })],
    });
    expect(verdict.violations).toEqual([
      expect.stringMatching(/held leases of one incarnation at once for 2\.0 ms/),
    ]);
  });

  it('accepts them one after the other', () => {
    const verdict = check({
      runs: [run('1', { end: T0 + 100 }), run('2', { start: T0 + 101, fencingToken: 11 })],
    });
    expect(verdict.violations).toEqual([]);
  });

  it("allows exactly the workers' measured clock uncertainty, no more", () => {
    const runs = [run('1', { end: T0 + 100 }), run('2', { start: T0 + 98, fencingToken: 11 })];
    const clocks = { 1: { offsetMs: 0, uncertaintyMs: 1 }, 2: { offsetMs: 0, uncertaintyMs: 1 } };
    expect(check({ runs, clocks }).violations).toEqual([]);
    // A worker clock 5 ms ahead: its times are corrected before they are compared.
    const ahead = {
      1: { offsetMs: 0, uncertaintyMs: 0.5 },
      2: { offsetMs: 5, uncertaintyMs: 0.5 },
    };
    const runsAhead = [
      run('1', { end: T0 + 100 }),
      run('2', { start: T0 + 102, fencingToken: 11 }),
    ];
    expect(check({ runs: runsAhead, clocks: ahead }).violations).toHaveLength(1);
  });

  it('ends a lease at its last renewal plus the lease: a stalled holder no longer holds it', () => {
    // Run 1 stalls after its last renewal; its lease ran out at +999; run 2 takes over at +1_200
    // while run 1 (resumed) is still in its loader until its signal aborts at +1_400.
    const stalled = run('1', {
      end: T0 + 1_450,
      abortedAt: T0 + 1_400,
      abortReason: 'LoadLeaseLostError',
      ok: false,
    });
    const takeover = run('2', { start: T0 + 1_200, fencingToken: 11 });
    expect(leaseOf(stalled, { kills: [], clocks: {} })).toMatchObject({
      until: T0 + 999,
      endedBy: 'expiry',
    });
    expect(check({ runs: [stalled, takeover] }).violations).toEqual([]);
    // The same history, had its last renewal been logged later, is a real overlap.
    const renewed = { ...stalled, leaseEndsAt: T0 + 1_300 };
    expect(check({ runs: [renewed, takeover] }).violations).toEqual([
      expect.stringMatching(/held leases of one incarnation at once for 100\.0 ms/),
    ]);
  });

  it('ends a lease at its SIGKILL or its abort', () => {
    const next = run('2', { start: T0 + 60, fencingToken: 11 });
    const killed = run('1', { end: undefined });
    expect(check({ runs: [killed, next] }).violations).toEqual(
      expect.arrayContaining([expect.stringMatching(/held leases of one incarnation at once/)]),
    );
    expect(check({ runs: [killed, next], kills: [{ pid: 1, at: T0 + 50 }] }).violations).toEqual(
      [],
    );
    const aborted = run('1', { abortedAt: T0 + 55, abortReason: 'LoadStatusShutdownError' });
    expect(check({ runs: [aborted, next] }).violations).toEqual([]);
  });
});

describe('chaos checker: incarnations', () => {
  const before = run('1', { end: T0 + 100 });
  const after = run('2', { start: T0 + 2_000, incarnation: 'redis:B', fencingToken: 11 });

  it('flags an incarnation that changes with no Redis state loss in between', () => {
    expect(check({ runs: [before, after] }).violations).toEqual([
      expect.stringMatching(
        /incarnation changed from redis:A to redis:B without a Redis state loss/,
      ),
    ]);
  });

  it('accepts it across a Redis restart', () => {
    const outages = [{ killedAt: T0 + 500, restartedAt: T0 + 800 }];
    expect(check({ runs: [before, after], outages }).violations).toEqual([]);
  });

  it("judges the old grant from when it was sent: its reply may come back after Redis's kill", () => {
    // Sent at +10, granted, Redis killed at +12, the reply read at +14; restarted at +300.
    const early = run('1', { grantSentAt: T0 + 10, acquiredAt: T0 + 14, start: T0 + 14 });
    const outages = [{ killedAt: T0 + 12, restartedAt: T0 + 300 }];
    expect(check({ runs: [early, after], outages }).violations).toEqual([]);
    // A grant sent after the kill cannot be the killed server's.
    const late = { ...early, grantSentAt: T0 + 13 };
    expect(check({ runs: [late, after], outages }).violations).toEqual([
      expect.stringMatching(/without a Redis state loss/),
    ]);
  });

  it('bounds how long a holder of the lost state overlaps the new one', () => {
    const outages = [{ killedAt: T0 + 50, restartedAt: T0 + 150 }];
    const old = run('1', { end: T0 + 900, leaseEndsAt: T0 + 5_000 });
    const fresh = run('2', {
      start: T0 + 200,
      end: T0 + 1_100,
      incarnation: 'redis:B',
      fencingToken: 11,
    });
    const verdict = check({ runs: [old, fresh], outages });
    expect(verdict.violations).toEqual([]);
    expect(verdict.crossIncarnationOverlaps).toEqual({ count: 1, maxMs: 700 });
    const tooLong = { ...old, end: T0 + 4_000 };
    expect(check({ runs: [tooLong, fresh], outages }).violations).toEqual([
      expect.stringMatching(/went on 3800 ms under a lost lock state/),
    ]);
  });
});

describe('chaos checker: fencing', () => {
  const outages = [{ killedAt: T0 + 150, restartedAt: T0 + 300 }];

  it('flags a token that does not increase across incarnations (a restarted Redis handing out 2 after 5)', () => {
    const runs = [
      run('1', { fencingToken: 5 }),
      run('2', { start: T0 + 400, incarnation: 'redis:B', fencingToken: 2 }),
    ];
    expect(check({ runs, outages }).violations).toEqual([
      expect.stringMatching(/fencing token did not increase/),
    ]);
  });

  it('accepts increasing tokens', () => {
    const runs = [
      run('1', { fencingToken: 5 }),
      run('2', { start: T0 + 400, incarnation: 'redis:B', fencingToken: 6 }),
    ];
    expect(check({ runs, outages }).violations).toEqual([]);
  });
});

describe('chaos checker: no lost load', () => {
  it("flags 'loaded-elsewhere' for a user nobody loaded", () => {
    const c = caller({ status: 'loaded-elsewhere', start: T0 + 200, end: T0 + 210 });
    expect(check({ requests: [request([c])] }).violations).toEqual([
      expect.stringMatching(/lost load: a caller of u in w9 was told loaded-elsewhere/),
    ]);
  });

  it("flags 'already-loaded' once the only load's TTL had run out", () => {
    const runs = [run('1', { loadedTtlMs: 500 })];
    const c = caller({ status: 'already-loaded', start: T0 + 900, end: T0 + 905 });
    expect(check({ runs, requests: [request([c])] }).violations).toEqual([
      expect.stringMatching(/lost load/),
    ]);
  });

  it("counts a flag's TTL from its commit (a finish that rode out an outage)", () => {
    const runs = [run('1', { loadedTtlMs: 500, committed: true, committedAt: T0 + 2_000 })];
    const c = caller({ status: 'already-loaded', start: T0 + 2_300, end: T0 + 2_305 });
    expect(check({ runs, requests: [request([c])] }).violations).toEqual([]);
    const uncommitted = [run('1', { loadedTtlMs: 500 })];
    expect(check({ runs: uncommitted, requests: [request([c])] }).violations).toEqual([
      expect.stringMatching(/lost load/),
    ]);
  });

  it('judges a load whose commit was never reported from the end of the finish window, no later', () => {
    // The loader ended at +100; its caller never reported the commit (its worker was killed). With
    // a 2 s finish window its flag may have been written as late as +2_100 and lived to +2_600.
    const runs = [run('1', { loadedTtlMs: 500 })];
    const settings = { lockTtlMs: LEASE_MS, lossDetectionMs: 3_000, finishWindowMs: 2_000 };
    const inside = caller({ status: 'already-loaded', start: T0 + 2_500, end: T0 + 2_505 });
    expect(check({ runs, requests: [request([inside])], settings }).violations).toEqual([]);
    const beyond = caller({ status: 'already-loaded', start: T0 + 2_700, end: T0 + 2_705 });
    expect(check({ runs, requests: [request([beyond])], settings }).violations).toEqual([
      expect.stringMatching(/lost load/),
    ]);
    // A reported commit is a fact: the window does not stretch it.
    const committed = [run('1', { loadedTtlMs: 500, committed: true, committedAt: T0 + 150 })];
    expect(check({ runs: committed, requests: [request([inside])], settings }).violations).toEqual([
      expect.stringMatching(/lost load/),
    ]);
  });

  it("judges a caller that shared a flight from the flight's start, and no earlier", () => {
    // The load ended at +100 and its flag lived to +600. A flight began at +550 and read it; a
    // caller that joined that flight at +700 got its answer. One that began its own could not have.
    const runs = [run('1', { loadedTtlMs: 500 })];
    const joined = caller({
      status: 'already-loaded',
      start: T0 + 700,
      flightStart: T0 + 550,
      end: T0 + 750,
    });
    expect(check({ runs, requests: [request([joined])] }).violations).toEqual([]);
    const own = caller({
      status: 'already-loaded',
      start: T0 + 700,
      flightStart: T0 + 700,
      end: T0 + 750,
    });
    expect(check({ runs, requests: [request([own])] }).violations).toEqual([
      `lost load: a caller of u in w9 was told already-loaded at ${T0 + 700}..${T0 + 750}, but no load of that user had ended within its TTL`,
    ]);
    const late = caller({
      status: 'already-loaded',
      start: T0 + 900,
      flightStart: T0 + 650,
      end: T0 + 950,
    });
    expect(check({ runs, requests: [request([late])] }).violations).toEqual([
      `lost load: a caller of u in w9 was told already-loaded at ${T0 + 900}..${T0 + 950} (sharing a flight begun at ${T0 + 650}), but no load of that user had ended within its TTL`,
    ]);
  });

  it('accepts an answer backed by a load within its TTL', () => {
    const runs = [run('1', { loadedTtlMs: 500 })];
    const c = caller({ status: 'already-loaded', start: T0 + 400, end: T0 + 405 });
    expect(check({ runs, requests: [request([c])] }).violations).toEqual([]);
  });
});

describe('chaos checker: once per TTL', () => {
  const first = run('1', { committed: true, loadedTtlMs: 5_000 });

  it('flags five back-to-back loads of one user within one TTL', () => {
    const runs = [
      first,
      ...[2, 3, 4, 5].map((i) =>
        run(String(i), { start: T0 + i * 150, fencingToken: 10 + i, committed: true }),
      ),
    ];
    expect(check({ runs }).violations.length).toBeGreaterThanOrEqual(4);
    expect(check({ runs }).violations[0]).toMatch(/loaded again \d+ ms after a committed load/);
  });

  describe('after a finish that rode out an outage (loader ended at +100, flag written by +600)', () => {
    const late = run('1', { committed: true, committedAt: T0 + 600, loadedTtlMs: 800 });

    it('accepts a load granted before the commit (its grant found no flag yet), or after +900', () => {
      const before = run('2', { start: T0 + 400, fencingToken: 11 });
      expect(check({ runs: [late, before] }).violations).toEqual([]);
      // A flag written at +100 ran out at +900.
      const expired = run('2', { start: T0 + 950, fencingToken: 11 });
      expect(check({ runs: [late, expired] }).violations).toEqual([]);
    });

    it('flags a load granted after the commit, within the TTL counted from the loader end', () => {
      const after = run('2', { start: T0 + 700, fencingToken: 11 });
      expect(check({ runs: [late, after] }).violations).toEqual([
        expect.stringMatching(/loaded again 600 ms after a committed load with a 800 ms TTL/),
      ]);
    });
  });

  it('accepts a reload once the flag ran out, and one after a failed finish (no flag written)', () => {
    const late = run('2', { start: T0 + 5_200, fencingToken: 11 });
    expect(check({ runs: [first, late] }).violations).toEqual([]);
    const uncommitted = { ...first, committed: false };
    const soon = run('3', { start: T0 + 300, fencingToken: 11 });
    expect(check({ runs: [uncommitted, soon] }).violations).toEqual([]);
  });
});

describe('chaos checker: once per TTL, with a stalled holder that finishes late', () => {
  // Run 1 stalls past its lease (it ends at +999); run 2 takes over at +1_100 and commits a
  // 300 ms flag at +1_200 (live to +1_500); run 1 wakes and finishes at +1_300, its lock gone.
  const stalled = run('1', {
    end: T0 + 1_300,
    committed: true,
    committedAt: T0 + 1_301,
    loadedTtlMs: 800,
  });
  const takeover = run('2', {
    start: T0 + 1_100,
    end: T0 + 1_200,
    committed: true,
    committedAt: T0 + 1_201,
    loadedTtlMs: 300,
    fencingToken: 11,
  });

  it("accepts a load once the takeover's flag ran out: the late finish left that flag alone", () => {
    const next = run('3', { start: T0 + 1_600, fencingToken: 12 });
    expect(check({ runs: [stalled, takeover, next] }).violations).toEqual([]);
  });

  it('flags a load within the TTL of a late finish that found no flag and wrote its own', () => {
    const alone = { ...stalled };
    const next = run('3', { start: T0 + 1_600, fencingToken: 12 });
    expect(check({ runs: [alone, next] }).violations).toEqual([
      expect.stringMatching(/loaded again 300 ms after a committed load with a 800 ms TTL/),
    ]);
  });
});

describe('chaos checker: every caller accounted for', () => {
  it('counts the missing callers of a killed worker as killed, and flags those of a live one as hung', () => {
    const reported = [caller()];
    const killedRun = request(reported, { pid: 7, worker: 'w7', expected: 3 });
    const live = request(reported, { expected: 3 });
    const killed = check({
      requests: [killedRun],
      kills: [{ pid: 7, at: T0 + 5 }],
      runs: [run('1')],
    });
    expect(killed.callers).toEqual({ reported: 1, killed: 2, hung: 0 });
    expect(killed.violations).toEqual([]);
    const hung = check({ requests: [live], runs: [run('1')] });
    expect(hung.callers).toEqual({ reported: 1, killed: 0, hung: 2 });
    expect(hung.violations).toEqual([
      expect.stringMatching(/2 caller\(s\) of w9 run 1 never ended/),
    ]);
  });

  it('flags a caller over its budget', () => {
    const slow = caller({ ms: 25_000, end: T0 + 25_000 });
    expect(check({ requests: [request([slow])], runs: [run('1')] }).violations).toEqual([
      expect.stringMatching(/took 25000 ms \(budget 20000 ms\)/),
    ]);
  });
});

describe('chaos checker: errors per phase', () => {
  const failed = (errorName: string, start = T0 + 1_000) =>
    caller({ ok: false, status: undefined, errorName, start, end: start + 5 });

  it('flags LoadStatusUnavailableError while Redis was up, and accepts it during an outage', () => {
    const c = failed('LoadStatusUnavailableError');
    expect(check({ requests: [request([c])] }).violations).toEqual([
      expect.stringMatching(/failed with LoadStatusUnavailableError in a steady phase/),
    ]);
    const outages = [{ killedAt: T0 + 900, restartedAt: T0 + 1_200 }];
    const verdict = check({ requests: [request([c])], outages });
    expect(verdict.violations).toEqual([]);
    expect(verdict.errors.outage).toEqual({ LoadStatusUnavailableError: 1 });
  });

  it('accepts LoadLeaseLostError only where that worker stalled (or Redis failed)', () => {
    const c = failed('LoadLeaseLostError');
    expect(check({ requests: [request([c])] }).violations).toHaveLength(1);
    const stalls = [{ pid: 9, stoppedAt: T0 + 800, resumedAt: T0 + 990 }];
    expect(check({ requests: [request([c])], stalls }).violations).toEqual([]);
    const elsewhere = [{ pid: 3, stoppedAt: T0 + 800, resumedAt: T0 + 990 }];
    expect(check({ requests: [request([c])], stalls: elsewhere }).violations).toHaveLength(1);
  });

  it('accepts a wait timeout only where outages left the wait too little time outside them', () => {
    // A 15 s wait; a wait needs 5 s outside outages to end (a lease, the longest load, slack).
    const settings = { lockTtlMs: LEASE_MS, lossDetectionMs: 3_000, waitNeedsMs: 5_000 };
    const c = caller({
      ok: false,
      status: undefined,
      errorName: 'LoadWaitTimeoutError',
      start: T0,
      end: T0 + 15_000,
      ms: 15_000,
    });
    // Two failovers, heals included, cover 11 s of it: 4 s left, too little.
    const long = [
      { killedAt: T0 - 3_000, restartedAt: T0 + 5_600 },
      { killedAt: T0 + 5_610, restartedAt: T0 + 11_000 },
    ];
    expect(check({ requests: [request([c])], outages: long, settings }).violations).toEqual([]);
    // One failover of 3 s: 12 s left, enough to end the wait.
    const short = [{ killedAt: T0 + 1_000, restartedAt: T0 + 4_000 }];
    expect(check({ requests: [request([c])], outages: short, settings }).violations).toEqual([
      expect.stringMatching(/LoadWaitTimeoutError in a outage phase/),
    ]);
  });

  it('flags a wait timeout and an untyped error in any phase, and lets injected loader failures through', () => {
    expect(check({ requests: [request([failed('LoadWaitTimeoutError')])] }).violations).toEqual([
      expect.stringMatching(/failed with LoadWaitTimeoutError in a steady phase/),
    ]);
    expect(check({ requests: [request([failed('TypeError')])] }).violations).toEqual([
      expect.stringMatching(/untyped error: TypeError/),
    ]);
    expect(check({ requests: [request([failed('LoaderFailure')])] }).violations).toEqual([]);
  });

  it('knows every typed error the library exports', () => {
    expect([...TYPED_ERROR_NAMES].sort()).toEqual([
      'InvalidUserIdError',
      'LoadLeaseLostError',
      'LoadStatusConfigError',
      'LoadStatusError',
      'LoadStatusHealthCheckError',
      'LoadStatusModuleMissingError',
      'LoadStatusRejectedError',
      'LoadStatusShutdownError',
      'LoadStatusUnavailableError',
      'LoadWaitTimeoutError',
      'LoaderFailure',
    ]);
  });
});

describe('chaos checker: facts', () => {
  it('flags a run without its lease facts, and one that never ended in a live process', () => {
    const verdict = check({ runs: [run('1', { incarnation: undefined, end: undefined })] });
    expect(verdict.violations).toEqual([
      expect.stringMatching(/ran without a reported lease/),
      expect.stringMatching(/never ended though its process was not killed/),
    ]);
  });

  it('flags an ensureLoaded answer without the start of the flight it shared', () => {
    const answered = caller({ flightStart: undefined });
    expect(check({ requests: [request([answered])] }).violations).toEqual([
      expect.stringMatching(/^a caller of u in w9 answered without the start of its flight/),
    ]);
    // Its legal twin: the fact is there.
    expect(check({ requests: [request([caller()])] }).violations).toEqual([]);
  });
});
