/**
 * The chaos checker must catch what it is there to catch: for each rule, a made-up history that
 * breaks it, and its legal twin (the same history with the one fact that makes it legal). The
 * rules are written from classes of violation (a holder that outlives its lease, a fact across
 * a restart, a load lost with a killed writer, an error no policy allows where it happened),
 * not from the histories that showed them.
 */
import type { CallerResult, LoadRecord } from '../fixtures/load-worker.protocol';
import {
  checkChaos,
  leaseOf,
  TYPED_ERROR_NAMES,
  type ChaosHistory,
  type ChaosSettings,
  type RedisOutage,
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

/** Run 1 of the default caller's flight: it loaded and committed. */
const OWN_LOAD = run('1', { committed: true, committedAt: T0 + 101 });

/** A caller in worker w1 whose own flight ran {@link OWN_LOAD}. */
function caller(fields: Partial<CallerResult> = {}): CallerResult {
  return {
    worker: 'w1',
    pid: 1,
    userId: 'u',
    ok: true,
    status: 'loaded',
    start: T0 - 1,
    end: T0 + 110,
    ms: 111,
    ...fields,
    // A caller begins its own flight unless a test says otherwise (or leaves the fact out).
    flightStart: 'flightStart' in fields ? fields.flightStart : (fields.start ?? T0 - 1),
  };
}

function request(callers: CallerResult[], fields: Partial<RequestRecord> = {}): RequestRecord {
  return {
    pid: 1,
    worker: 'w1',
    runId: 1,
    sentAt: T0 - 2,
    expected: callers.length,
    reported: callers,
    budgetMs: 20_000,
    ...fields,
  };
}

const SETTINGS: ChaosSettings = {
  lockTtlMs: LEASE_MS,
  commandTimeoutMs: 1_000,
  outageGraceMs: 5_000,
  lossDetectionMs: 3_000,
  reconnectMs: 2_000,
  noticeMs: 600,
  finishWindowMs: 0,
};

/** A restart that emptied Redis. */
const restart = (killedAt: number, restartedAt: number): RedisOutage => ({
  killedAt,
  restartedAt,
  stateLost: true,
});

/** Checks a history; every process in it has an exact clock unless `clocks` says otherwise. */
function check(history: Partial<ChaosHistory>, settings: Partial<ChaosSettings> = {}) {
  const pids = [
    ...(history.runs ?? []).map((r) => r.pid),
    ...(history.requests ?? []).flatMap((q) => [q.pid, ...q.reported.map((c) => c.pid)]),
    ...(history.storeEvents ?? []).map((e) => e.pid),
  ];
  return checkChaos({
    runs: [],
    requests: [],
    kills: [],
    stalls: [],
    outages: [],
    storeEvents: [],
    clocks: Object.fromEntries(pids.map((pid) => [pid, { offsetMs: 0, uncertaintyMs: 0 }])),
    ...history,
    settings: { ...SETTINGS, ...history.settings, ...settings },
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
    const stalls = [{ pid: 1, stoppedAt: T0 + 500, resumedAt: T0 + 1_350 }];
    expect(leaseOf(stalled, { kills: [], clocks: {} })).toMatchObject({
      until: T0 + 999,
      endedBy: 'expiry',
    });
    expect(check({ runs: [stalled, takeover], stalls }).violations).toEqual([]);
    // The same history, had its last renewal been logged later, is a real overlap.
    const renewed = { ...stalled, leaseEndsAt: T0 + 1_300 };
    expect(check({ runs: [renewed, takeover], stalls }).violations).toEqual([
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
    const outages = [restart(T0 + 500, T0 + 800)];
    expect(check({ runs: [before, after], outages }).violations).toEqual([]);
  });

  it('accepts a new incarnation granted by the restarted server before the parent saw it serve', () => {
    // Killed at +500; the parent's readiness check saw it serving at +800, the worker at +790.
    const outages = [restart(T0 + 500, T0 + 800)];
    const early = { ...after, grantSentAt: T0 + 788, acquiredAt: T0 + 790, start: T0 + 790 };
    expect(check({ runs: [before, early], outages }).violations).toEqual([]);
    // Before the kill, though, no new incarnation can be granted.
    const tooEarly = {
      ...after,
      grantSentAt: T0 + 480,
      acquiredAt: T0 + 490,
      start: T0 + 490,
      end: T0 + 495,
      leaseEndsAt: T0 + 1_479,
    };
    expect(check({ runs: [before, tooEarly], outages }).violations).toEqual([
      expect.stringMatching(/without a Redis state loss in between/),
    ]);
  });

  it("judges the old grant from when it was sent: its reply may come back after Redis's kill", () => {
    // Sent at +10, granted, Redis killed at +12, the reply read at +14; restarted at +300.
    const early = run('1', { grantSentAt: T0 + 10, acquiredAt: T0 + 14, start: T0 + 14 });
    const outages = [restart(T0 + 12, T0 + 300)];
    expect(check({ runs: [early, after], outages }).violations).toEqual([]);
    // A grant sent after the kill cannot be the killed server's.
    const late = { ...early, grantSentAt: T0 + 13 };
    expect(check({ runs: [late, after], outages }).violations).toEqual([
      expect.stringMatching(/without a Redis state loss/),
    ]);
  });

  it('bounds how long a holder of the lost state goes on beside the new one', () => {
    const outages = [restart(T0 + 50, T0 + 150)];
    // Renewed at +40, just before the kill: its lease ends at +1_040 at the latest.
    const old = run('1', { end: T0 + 900, leaseEndsAt: T0 + 1_040 });
    const fresh = run('2', {
      start: T0 + 200,
      end: T0 + 1_100,
      incarnation: 'redis:B',
      fencingToken: 11,
    });
    const verdict = check({ runs: [old, fresh], outages });
    expect(verdict.violations).toEqual([]);
    expect(verdict.crossIncarnationOverlaps).toEqual({ count: 1, maxMs: 700 });
    // Told at the latest by its first renewal after its client reconnected (+150 + 3_000).
    const tooLong = { ...old, end: T0 + 4_000 };
    expect(check({ runs: [tooLong, fresh], outages }).violations).toEqual([
      expect.stringMatching(
        /went on 2960 ms past its lease \(ended \d+\) without its signal aborting/,
      ),
    ]);
    const told = { ...tooLong, abortedAt: T0 + 3_100, abortReason: 'LoadLeaseLostError' };
    expect(check({ runs: [told, fresh], outages }).violations).toEqual([]);
  });
});

describe('chaos checker: fencing', () => {
  const outages = [restart(T0 + 150, T0 + 300)];

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
      expect.stringMatching(/lost load: a caller of u in w1 was told loaded-elsewhere/),
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
    const settings = { finishWindowMs: 2_000 };
    const inside = caller({ status: 'already-loaded', start: T0 + 2_500, end: T0 + 2_505 });
    expect(check({ runs, requests: [request([inside])] }, settings).violations).toEqual([]);
    const beyond = caller({ status: 'already-loaded', start: T0 + 2_700, end: T0 + 2_705 });
    expect(check({ runs, requests: [request([beyond])] }, settings).violations).toEqual([
      expect.stringMatching(/lost load/),
    ]);
    // A reported commit is a fact: the window does not stretch it.
    const committed = [run('1', { loadedTtlMs: 500, committed: true, committedAt: T0 + 150 })];
    expect(check({ runs: committed, requests: [request([inside])] }, settings).violations).toEqual([
      expect.stringMatching(/lost load/),
    ]);
    // Nor past the SIGKILL of its process: a dead writer writes nothing.
    const kills = [{ pid: 1, at: T0 + 300 }];
    const loading = run('1', { id: '1:2', userId: 'v', start: T0 + 250, end: undefined });
    const withKill = { runs: [...runs, loading], requests: [request([inside])], kills };
    expect(check(withKill, settings).violations).toEqual([expect.stringMatching(/lost load/)]);
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
      `lost load: a caller of u in w1 was told already-loaded at ${T0 + 700}..${T0 + 750}, but no load of that user had ended within its TTL`,
    ]);
    const late = caller({
      status: 'already-loaded',
      start: T0 + 900,
      flightStart: T0 + 650,
      end: T0 + 950,
    });
    expect(check({ runs, requests: [request([late])] }).violations).toEqual([
      `lost load: a caller of u in w1 was told already-loaded at ${T0 + 900}..${T0 + 950} (sharing a flight begun at ${T0 + 650}), but no load of that user had ended within its TTL`,
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
    const loading = run('7', { userId: 'v', end: undefined });
    const killed = check({
      requests: [killedRun],
      kills: [{ pid: 7, at: T0 + 5 }],
      runs: [OWN_LOAD, loading],
    });
    expect(killed.callers).toEqual({ reported: 1, killed: 2, hung: 0 });
    expect(killed.violations).toEqual([]);
    const hung = check({ requests: [live], runs: [OWN_LOAD] });
    expect(hung.callers).toEqual({ reported: 1, killed: 0, hung: 2 });
    expect(hung.violations).toEqual([
      expect.stringMatching(/2 caller\(s\) of w1 run 1 never ended \(its process was not killed\)/),
    ]);
  });

  it('flags a caller over its budget', () => {
    const slow = caller({ ms: 25_000, end: T0 + 25_000 });
    expect(check({ requests: [request([slow])], runs: [OWN_LOAD] }).violations).toEqual([
      expect.stringMatching(/took 25000 ms \(budget 20000 ms\)/),
    ]);
  });
});

describe('chaos checker: facts', () => {
  it('flags a run without its lease facts, and one that never ended in a live process', () => {
    const bare = run('1', { incarnation: undefined, leaseEndsAt: undefined });
    expect(check({ runs: [bare] }).violations).toEqual([
      expect.stringMatching(/ran without its lease facts \(incarnation, leaseEndsAt\)/),
    ]);
    expect(check({ runs: [run('1', { end: undefined })] }).violations).toEqual([
      expect.stringMatching(/never ended though its process was not killed/),
    ]);
  });

  it('flags an ensureLoaded answer without the start of the flight it shared', () => {
    const answered = caller({ flightStart: undefined });
    expect(check({ requests: [request([answered])], runs: [OWN_LOAD] }).violations).toEqual([
      expect.stringMatching(/^a caller of u in w1 answered without the start of its flight/),
    ]);
    // Its legal twin: the fact is there.
    expect(check({ requests: [request([caller()])], runs: [OWN_LOAD] }).violations).toEqual([]);
  });
});

describe('chaos checker: holders that outlive their lease', () => {
  const takeover = run('2', { start: T0 + 1_200, end: T0 + 1_300, fencingToken: 11 });

  it('flags a grant whose lease had ended before it was seen, and a loader started after it', () => {
    const late = run('1', { grantSentAt: T0 - 1_200, leaseEndsAt: T0 - 200 });
    expect(check({ runs: [late] }).violations).toEqual([
      expect.stringMatching(/^its lease ended before it started its loader/),
    ]);
    expect(check({ runs: [run('1')] }).violations).toEqual([]);
  });

  it('flags a stalled holder that resumes and goes on loading without its signal aborting', () => {
    // Frozen +300..+1_150 (its lease ran out at +999), it loads on to +1_900 beside the takeover.
    const stalls = [{ pid: 1, stoppedAt: T0 + 300, resumedAt: T0 + 1_150 }];
    const resumed = run('1', { end: T0 + 1_900 });
    expect(check({ runs: [resumed, takeover], stalls }).violations).toEqual([
      expect.stringMatching(
        /went on 901 ms past its lease \(ended \d+\) without its signal aborting/,
      ),
      expect.stringMatching(/the stall of pid 1 .* cost no holder its lease/),
    ]);
    // Its twins: aborted at its first renewal after the stall, or ended before it could be told
    // (its finish found the lock gone).
    const aborted = {
      ...resumed,
      ok: false,
      abortedAt: T0 + 1_160,
      abortReason: 'LoadLeaseLostError',
      end: T0 + 1_161,
    };
    expect(check({ runs: [aborted, takeover], stalls }).violations).toEqual([]);
    const done = { ...resumed, end: T0 + 1_151, leaseLostAt: T0 + 1_153 };
    expect(check({ runs: [done, takeover], stalls }).violations).toEqual([]);
  });

  it('gives a holder that could not reach Redis until the outage ended and it reconnected', () => {
    const outages: RedisOutage[] = [
      { killedAt: T0 + 800, restartedAt: T0 + 1_500, stateLost: false },
    ];
    const holder = run('1', {
      end: T0 + 4_000,
      abortedAt: T0 + 3_900,
      abortReason: 'LoadLeaseLostError',
      ok: false,
    });
    expect(check({ runs: [holder], outages }).violations).toEqual([]);
    const never = { ...holder, abortedAt: undefined, abortReason: undefined, end: T0 + 6_000 };
    expect(check({ runs: [never], outages }).violations).toEqual([
      expect.stringMatching(/went on 5001 ms past its lease/),
    ]);
  });
});

describe('chaos checker: restarts', () => {
  const outages = [restart(T0 + 500, T0 + 800)];

  it('flags one incarnation granting on both sides of a restart that emptied Redis', () => {
    const before = run('1');
    const after = run('2', { start: T0 + 1_000, fencingToken: 11 });
    expect(check({ runs: [before, after], outages }).violations).toEqual([
      expect.stringMatching(/incarnation redis:A granted .* on both sides of the restart/),
    ]);
    // A failover keeps the lock state it replicated: one incarnation may span it.
    const failover: RedisOutage[] = [{ ...outages[0], stateLost: false }];
    expect(check({ runs: [before, after], outages: failover }).violations).toEqual([]);
  });

  it('flags a lease renewed on a server that had lost it', () => {
    const renewed = run('1', { end: T0 + 2_000, leaseEndsAt: T0 + 2_200 });
    expect(check({ runs: [renewed], outages }).violations).toEqual([
      expect.stringMatching(/renewed its lease to \d+ on a Redis that lost it/),
    ]);
    const beforeKill = run('1', {
      end: T0 + 2_000,
      leaseEndsAt: T0 + 1_400,
      abortedAt: T0 + 1_900,
      abortReason: 'LoadLeaseLostError',
      ok: false,
    });
    expect(check({ runs: [beforeKill], outages }).violations).toEqual([]);
  });

  it('orders grants across a restart even when the later acquire was sent early and resent', () => {
    // Run 2's acquire went out at +400 (before the kill) and was granted by the restarted server.
    const early = {
      grantSentAt: T0 + 400,
      acquiredAt: T0 + 900,
      start: T0 + 900,
      leaseEndsAt: T0 + 1_399,
    };
    const backwards = run('2', { ...early, incarnation: 'redis:B', fencingToken: 3 });
    expect(check({ runs: [run('1'), backwards], outages }).violations).toEqual([
      expect.stringMatching(/fencing token did not increase/),
    ]);
    const forwards = { ...backwards, fencingToken: 11 };
    expect(check({ runs: [run('1'), forwards], outages }).violations).toEqual([]);
  });

  it('holds once-per-TTL across incarnations: a late finish into the restarted server counts', () => {
    // Run 1 ended at +100; its finish rode out the outage and committed into the restarted server at +900.
    const late = run('1', {
      committed: true,
      committedAt: T0 + 900,
      loadedTtlMs: 2_000,
      leaseLostAt: T0 + 900,
    });
    const next = run('2', { start: T0 + 1_200, incarnation: 'redis:B', fencingToken: 11 });
    expect(check({ runs: [late, next], outages }).violations).toEqual([
      expect.stringMatching(/loaded again \d+ ms after a committed load with a 2000 ms TTL/),
    ]);
    // Its twin: the commit came before the kill, so the flag was lost with Redis's data.
    const lost = { ...late, committedAt: T0 + 300 };
    expect(check({ runs: [lost, next], outages }).violations).toEqual([]);
  });
});

describe('chaos checker: once per TTL, judged by the last write', () => {
  // A stalled holder's late finish sets a missing flag (556 ms); the takeover's own finish, its
  // lock still its own, overwrites it 147 ms later with its 392 ms TTL; a load after that flag
  // ran out is legal though the first flag's TTL would still run.
  const stalls = [{ pid: 1, stoppedAt: T0 + 100, resumedAt: T0 + 1_684 }];
  const stale = run('1', {
    end: T0 + 1_685,
    committed: true,
    committedAt: T0 + 1_688,
    loadedTtlMs: 556,
    leaseLostAt: T0 + 1_688,
  });
  const takeover = run('2', {
    start: T0 + 1_567,
    end: T0 + 1_832,
    committed: true,
    committedAt: T0 + 1_834,
    loadedTtlMs: 392,
    fencingToken: 11,
  });
  const next = run('3', { start: T0 + 2_237, fencingToken: 12 });

  it('accepts a load once the overwriting flag ran out', () => {
    expect(check({ runs: [stale, takeover, next], stalls }).violations).toEqual([]);
  });

  it('flags the same load had nothing overwritten the late flag', () => {
    expect(check({ runs: [stale, next], stalls }).violations).toEqual([
      expect.stringMatching(/loaded again 552 ms after a committed load with a 556 ms TTL/),
    ]);
  });
});

describe('chaos checker: answers backed by loads', () => {
  it("flags a 'loaded' answer whose flight ran no committed loader, and accepts one that did", () => {
    expect(check({ requests: [request([caller()])] }).violations).toEqual([
      expect.stringMatching(/was told loaded at .* but no loader run of its flight committed/),
    ]);
    const uncommitted = run('1');
    expect(check({ requests: [request([caller()])], runs: [uncommitted] }).violations).toHaveLength(
      1,
    );
    expect(check({ requests: [request([caller()])], runs: [OWN_LOAD] }).violations).toEqual([]);
  });

  it('flags a successful answer with neither a status nor a flight start', () => {
    const bare = caller({ status: undefined, flightStart: undefined });
    expect(check({ requests: [request([bare])], runs: [OWN_LOAD] }).violations).toEqual([
      expect.stringMatching(/succeeded without a status/),
    ]);
  });

  it('flags an answer backed only by a flag that a restart had emptied from Redis', () => {
    const writer = run('1', { committed: true, committedAt: T0 + 101, loadedTtlMs: 60_000 });
    const c = caller({ status: 'already-loaded', start: T0 + 2_000, end: T0 + 2_005 });
    const emptied = [restart(T0 + 500, T0 + 800)];
    expect(
      check({ runs: [writer], requests: [request([c])], outages: emptied }).violations,
    ).toEqual([expect.stringMatching(/lost load/)]);
    const failover: RedisOutage[] = [{ ...emptied[0], stateLost: false }];
    expect(
      check({ runs: [writer], requests: [request([c])], outages: failover }).violations,
    ).toEqual([]);
  });
});

describe('chaos checker: callers of a killed worker', () => {
  it('counts callers as killed only if their worker died within their budget', () => {
    const loading = run('1', {
      userId: 'v',
      start: T0 + 20_000,
      end: undefined,
      leaseEndsAt: T0 + 24_600,
    });
    const q = request([], { expected: 2, budgetMs: 5_000 });
    const late = check({ requests: [q], runs: [loading], kills: [{ pid: 1, at: T0 + 24_000 }] });
    expect(late.callers).toEqual({ reported: 0, killed: 0, hung: 2 });
    expect(late.violations).toEqual([
      expect.stringMatching(
        /2 caller\(s\) of w1 run 1 never ended \(its process was killed 19002 ms past their budget\)/,
      ),
    ]);
    const early = {
      ...loading,
      start: T0 + 4_000,
      grantSentAt: T0 + 3_999,
      acquiredAt: T0 + 4_000,
    };
    const inBudget = check({ requests: [q], runs: [early], kills: [{ pid: 1, at: T0 + 4_500 }] });
    expect(inBudget.callers).toEqual({ reported: 0, killed: 2, hung: 0 });
    expect(inBudget.violations).toEqual([]);
  });
});

describe('chaos checker: errors per phase', () => {
  const failed = (errorName: string, fields: Partial<CallerResult> = {}) =>
    caller({ ok: false, status: undefined, errorName, start: T0, end: T0 + 110, ...fields });

  it('matches each LoaderFailure to the failed loader run of its flight', () => {
    const c = failed('LoaderFailure');
    expect(check({ requests: [request([c])] }).violations).toEqual([
      expect.stringMatching(
        /failed with LoaderFailure in a steady phase .*: no loader run of its flight failed/,
      ),
    ]);
    const failedRun = run('1', { ok: false });
    const verdict = check({ requests: [request([c])], runs: [failedRun] });
    expect(verdict.violations).toEqual([]);
    expect(verdict.phases.steady).toEqual({ callers: 1, failed: 1, errors: { LoaderFailure: 1 } });
  });

  it('matches each LoadLeaseLostError to a loader run of its flight that lost its lease to a stall', () => {
    const c = failed('LoadLeaseLostError', { end: T0 + 1_700 });
    const stalls = [{ pid: 1, stoppedAt: T0 + 300, resumedAt: T0 + 1_500 }];
    const lost = run('1', {
      ok: false,
      end: T0 + 1_550,
      abortedAt: T0 + 1_550,
      abortReason: 'LoadLeaseLostError',
    });
    expect(check({ requests: [request([c])], runs: [lost], stalls }).violations).toEqual([]);
    expect(
      check({ requests: [request([c])], runs: [run('1', { ok: false })], stalls }).violations,
    ).toEqual([
      expect.stringMatching(/the stall of pid 1 .* cost no holder its lease/),
      expect.stringMatching(
        /LoadLeaseLostError in a stall phase .*: no loader run of its flight lost its lease/,
      ),
    ]);
    // A lease lost while Redis was up and its process ran is a fault of the library.
    expect(check({ requests: [request([c])], runs: [lost] }).violations).toEqual([
      expect.stringMatching(/lost its lease at \d+ while Redis was up and its process ran/),
    ]);
  });

  describe('LoadStatusUnavailableError', () => {
    const outages: RedisOutage[] = [restart(T0 + 1_000, T0 + 1_700)];
    const unreachable = (at: number) => ({
      pid: 1,
      worker: 'w1',
      kind: 'unreachable' as const,
      at,
    });

    it('accepts it for a caller that arrived during the outage, while its worker said Redis was unreachable', () => {
      const c = failed('LoadStatusUnavailableError', { start: T0 + 1_100, end: T0 + 1_105 });
      const storeEvents = [unreachable(T0 + 1_104)];
      const verdict = check({ requests: [request([c])], outages, storeEvents });
      expect(verdict.violations).toEqual([]);
      expect(verdict.phases.outage.errors).toEqual({ LoadStatusUnavailableError: 1 });
      expect(check({ requests: [request([c])], outages }).violations).toEqual([
        expect.stringMatching(/its worker never found Redis unreachable while it ran/),
      ]);
    });

    it('flags it for a caller already waiting when the outage began, before outageGraceMs ran out', () => {
      // Waiting since +-2_000; failed 50 ms into a 700 ms outage.
      const c = failed('LoadStatusUnavailableError', { start: T0 - 2_000, end: T0 + 1_050 });
      const storeEvents = [unreachable(T0 + 1_049)];
      expect(check({ requests: [request([c])], outages, storeEvents }).violations).toEqual([
        expect.stringMatching(/failed 50 ms into it, inside outageGraceMs \(5000 ms\)/),
      ]);
      const longOutage = [restart(T0 + 1_000, T0 + 7_000)];
      const afterGrace = { ...c, end: T0 + 6_010 };
      const events = [unreachable(T0 + 6_009)];
      expect(
        check({ requests: [request([afterGrace])], outages: longOutage, storeEvents: events })
          .violations,
      ).toEqual([]);
    });

    it('flags it while Redis was up, and a store that found Redis unreachable outside every outage', () => {
      const c = failed('LoadStatusUnavailableError', { start: T0 + 5_000, end: T0 + 5_005 });
      const storeEvents = [unreachable(T0 + 5_004)];
      expect(check({ requests: [request([c])], outages, storeEvents }).violations).toEqual([
        expect.stringMatching(
          /w1's store found Redis unreachable at \d+, outside every outage and its reconnect/,
        ),
        expect.stringMatching(
          /LoadStatusUnavailableError in a steady phase .*: no outage touched its user/,
        ),
      ]);
      // Within the reconnect after the restart (+1_700 + 2_000): its worker was still reconnecting.
      const reconnecting = { ...c, start: T0 + 3_000, end: T0 + 3_005 };
      const events = [unreachable(T0 + 3_004)];
      expect(
        check({ requests: [request([reconnecting])], outages, storeEvents: events }).violations,
      ).toEqual([]);
    });

    it("flags it for a user whose shard did not fail (a Cluster failover touches one master's slots)", () => {
      const failover: RedisOutage[] = [
        { killedAt: T0 + 1_000, restartedAt: T0 + 1_700, stateLost: false, slots: [[0, 5_000]] },
      ];
      const c = failed('LoadStatusUnavailableError', { start: T0 + 1_100, end: T0 + 1_105 });
      const storeEvents = [unreachable(T0 + 1_104)];
      const elsewhere = check({
        requests: [request([c])],
        outages: failover,
        storeEvents,
        userSlots: { u: 9_000 },
      });
      expect(elsewhere.violations).toEqual([
        expect.stringMatching(
          /LoadStatusUnavailableError in a steady phase .*: no outage touched its user/,
        ),
      ]);
      // A cluster that requires full coverage refuses every slot until the failover is over;
      // while the dead master rejoins, only its slots.
      const everySlot = [{ ...failover[0], everySlotUntilRestart: true, healedAt: T0 + 4_000 }];
      const refused = check({
        requests: [request([c])],
        outages: everySlot,
        storeEvents,
        userSlots: { u: 9_000 },
      });
      expect(refused.violations).toEqual([]);
      const inHeal = { ...c, start: T0 + 3_800, end: T0 + 3_805 };
      const healing = check({
        requests: [request([inHeal])],
        outages: everySlot,
        storeEvents: [unreachable(T0 + 3_804)],
        userSlots: { u: 9_000 },
      });
      expect(healing.violations).toEqual([
        expect.stringMatching(/in a steady phase .*: no outage touched its user/),
      ]);
      const touched = check({
        requests: [request([c])],
        outages: failover,
        storeEvents,
        userSlots: { u: 42 },
      });
      expect(touched.violations).toEqual([]);
      expect(
        check({ requests: [request([c])], outages: failover, storeEvents }).violations,
      ).toEqual(['missing fact: no hash slot recorded for u, though an outage names its slots']);
    });
  });

  it('accepts a wait timeout only where outages left the wait too little time outside them', () => {
    // A 15 s wait; a wait needs 5 s outside outages to end (a lease, the longest load, slack).
    const c = failed('LoadWaitTimeoutError', { start: T0, end: T0 + 15_000, ms: 15_000 });
    // Two failovers, heals included, cover 11 s of it: 4 s left, too little.
    const long: RedisOutage[] = [
      { killedAt: T0 - 3_000, restartedAt: T0 + 2_000, healedAt: T0 + 5_600, stateLost: false },
      { killedAt: T0 + 5_610, restartedAt: T0 + 11_000, stateLost: false },
    ];
    const settings = { waitNeedsMs: 5_000 };
    expect(check({ requests: [request([c])], outages: long }, settings).violations).toEqual([]);
    // One failover of 3 s: 12 s left, enough to end the wait.
    const short: RedisOutage[] = [
      { killedAt: T0 + 1_000, restartedAt: T0 + 4_000, stateLost: false },
    ];
    expect(check({ requests: [request([c])], outages: short }, settings).violations).toEqual([
      expect.stringMatching(/LoadWaitTimeoutError in a outage phase .*: outages left it 12000 ms/),
    ]);
    expect(check({ requests: [request([c])] }).violations).toEqual([
      expect.stringMatching(/LoadWaitTimeoutError in a steady phase/),
    ]);
  });

  it('flags an untyped error in any phase', () => {
    expect(check({ requests: [request([failed('TypeError')])] }).violations).toEqual([
      expect.stringMatching(/failed with TypeError in a steady phase .*: it is not a typed error/),
    ]);
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

describe('chaos checker: faults that took effect', () => {
  it('flags a SIGKILL that caught no loader run', () => {
    const kills = [{ pid: 1, at: T0 + 500 }];
    expect(check({ runs: [run('1')], kills }).violations).toEqual([
      expect.stringMatching(/the SIGKILL of pid 1 at \d+ caught no loader run/),
    ]);
    const midLoad = check({ runs: [run('1', { end: undefined })], kills });
    expect(midLoad.violations).toEqual([]);
    expect(midLoad.killsMidLoad).toBe(1);
  });

  it('ties each stall to a lease its frozen holder lost for it', () => {
    const stalls = [{ pid: 1, stoppedAt: T0 + 300, resumedAt: T0 + 1_500 }];
    const untouched = check({ runs: [run('1', { end: T0 + 200 })], stalls });
    expect(untouched.violations).toEqual([
      expect.stringMatching(/the stall of pid 1 .* cost no holder its lease/),
    ]);
    // Lost, but learnt too late to be this stall's doing.
    const late = run('1', { end: T0 + 1_501, leaseLostAt: T0 + 2_500 });
    expect(check({ runs: [late], stalls }).violations).toEqual([
      expect.stringMatching(/cost no holder its lease/),
    ]);
    const tied = check({ runs: [{ ...late, leaseLostAt: T0 + 1_503 }], stalls });
    expect(tied.violations).toEqual([]);
    expect(tied.stallsTied).toBe(1);
    expect(tied.leaseLosses).toBe(1);
  });
});

describe('chaos checker: facts of the run', () => {
  it('flags a worker with no recorded clock instead of reading it as exact', () => {
    expect(check({ runs: [run('1')], clocks: {} }).violations).toEqual([
      'missing fact: no clock recorded for pid 1',
    ]);
  });
});

describe('chaos checker: the steady phase bound', () => {
  it('flags loader failures above twice the injected rate, over enough callers to tell', () => {
    // 100 flights of one caller each (users u0..u99), every tenth loader run failing.
    const runs = Array.from({ length: 100 }, (_, i) =>
      run('1', {
        id: `1:${i}`,
        userId: `u${i}`,
        ok: i % 10 !== 0,
        committed: i % 10 !== 0,
        committedAt: T0 + 101,
      }),
    );
    const callers = runs.map((r) =>
      r.ok
        ? caller({ userId: r.userId })
        : caller({ userId: r.userId, ok: false, status: undefined, errorName: 'LoaderFailure' }),
    );
    const history = { runs, requests: [request(callers)] };
    expect(check(history, { loaderFailRate: 0.05 }).violations).toEqual([]);
    expect(check(history, { loaderFailRate: 0.04 }).violations).toEqual([
      '10 of 100 callers failed with LoaderFailure in the steady phase, above twice the injected rate (0.04)',
    ]);
  });
});
