/**
 * Scenario 1, hot path: "is this user loaded?" for a user that is loaded, sequentially in this
 * process. Each row is measured twice per repeat: throughput without per-call timing, then
 * every call timed into an HDR histogram for p50/p99. Rows that make a Redis round trip are
 * measured in both CPU placements (see placement.ts); the others do not touch Redis.
 */
import { Redis } from 'ioredis';
import { CONFIG } from '../config';
import { latencies, throughput, type LatencySummary } from '../measure';
import { PLACEMENTS, type Pinning } from '../placement';
import type { HotPathResult, HotPathRow } from '../results';
import { measured } from '../stats';
import { HOT_PATH_KEY_PREFIX, HotPathLoader, LibraryStrategy } from '../strategies/library';
import { ReferenceLoadStatus } from '../strategies/reference';

interface Row {
  id: string;
  label: string;
  roundTrip: boolean;
  check: () => Promise<unknown>;
}

export async function hotPath(
  redisUrl: string,
  pinning: Pinning,
  log: (line: string) => void,
): Promise<HotPathResult> {
  const cfg = CONFIG.hotPath;
  const user = 'hot-user';
  // Near-cache off first, on last: @WithUserLoadLock() uses the most recently started module.
  const libOff = await LibraryStrategy.create(redisUrl, {
    keyPrefix: 'bench-hot-nc-off',
    nearCache: false,
  });
  // Near-cache off with auto-pipelining ON on the module's own client (it is off by default).
  const libOffAp = await LibraryStrategy.create(
    redisUrl,
    { keyPrefix: 'bench-hot-nc-off-ap', nearCache: false },
    { enableAutoPipelining: true },
  );
  const libOn = await LibraryStrategy.create(redisUrl, { keyPrefix: HOT_PATH_KEY_PREFIX });
  // The same, with a subscriber on events$ (the default above has none).
  const libEv = await LibraryStrategy.create(redisUrl, { keyPrefix: 'bench-hot-events' });
  let eventsSeen = 0;
  const subscription = libEv.events.events$.subscribe(() => eventsSeen++);
  const redis = new Redis(redisUrl);
  const reference = new ReferenceLoadStatus(redis, 'bench-hot-ref');
  try {
    await libOff.locks.ensureLoaded(user, () => undefined);
    await libOn.locks.ensureLoaded(user, () => undefined);
    await libOffAp.locks.ensureLoaded(user, () => undefined);
    await libEv.locks.ensureLoaded(user, () => undefined);
    await reference.setLoaded(user);
    const loader = libOn.app.get(HotPathLoader);
    await loader.load(user); // runs the body once: the user is loaded from here on
    const local = new Map<string, number>([[user, performance.now() + 3_600_000]]);
    const localIsLoaded = async (userId: string): Promise<boolean> =>
      Promise.resolve((local.get(userId) ?? 0) > performance.now());
    const noop = (): undefined => undefined;

    const rows: Row[] = [
      {
        id: 'get',
        label:
          'one GET per check (reference `isLoaded`; first check of the redlock / redis-semaphore flows)',
        roundTrip: true,
        check: () => reference.isLoaded(user),
      },
      {
        id: 'lib-ensure-nc-on',
        label: 'library `ensureLoaded`, near-cache on (default)',
        roundTrip: false,
        check: () => libOn.locks.ensureLoaded(user, noop),
      },
      {
        id: 'lib-ensure-nc-on-events',
        label: 'library `ensureLoaded`, near-cache on, one `events$` subscriber',
        roundTrip: false,
        check: () => libEv.locks.ensureLoaded(user, noop),
      },
      {
        id: 'lib-isloaded-nc-on',
        label: 'library `isLoaded`, near-cache on (default)',
        roundTrip: false,
        check: () => libOn.status.isLoaded(user),
      },
      {
        id: 'lib-ensure-nc-off',
        label: 'library `ensureLoaded`, near-cache off',
        roundTrip: true,
        check: () => libOff.locks.ensureLoaded(user, noop),
      },
      {
        id: 'lib-isloaded-nc-off',
        label: 'library `isLoaded`, near-cache off',
        roundTrip: true,
        check: () => libOff.status.isLoaded(user),
      },
      {
        id: 'lib-ensure-nc-off-ap',
        label: 'library `ensureLoaded`, near-cache off, auto-pipelining on',
        roundTrip: true,
        check: () => libOffAp.locks.ensureLoaded(user, noop),
      },
      {
        id: 'lib-isloaded-nc-off-ap',
        label: 'library `isLoaded`, near-cache off, auto-pipelining on',
        roundTrip: true,
        check: () => libOffAp.status.isLoaded(user),
      },
      {
        id: 'local-map',
        label: 'process-local Map lookup in an async function (physical floor)',
        roundTrip: false,
        check: () => localIsLoaded(user),
      },
      {
        id: 'undecorated',
        label: 'undecorated async method (empty body)',
        roundTrip: false,
        check: () => loader.loadUndecorated(user),
      },
      {
        id: 'decorated',
        label: '`@WithUserLoadLock()` method, loaded user, near-cache on',
        roundTrip: false,
        check: () => loader.load(user),
      },
    ];
    const placements = pinning.available ? PLACEMENTS : (['unpinned'] as const);
    const key = (row: Row, placement: string): string =>
      placement === placements[0] ? row.id : `${row.id}@${placement}`;
    const rates = new Map<string, number[]>();
    const lat = new Map<string, LatencySummary[]>();
    let decoratedBodyRuns = 0;
    for (let repeat = 0; repeat < CONFIG.repeats; repeat++) {
      for (const placement of placements) {
        if (placement !== 'unpinned') pinning.place(placement);
        for (const row of rows) {
          if (placement !== placements[0] && !row.roundTrip) continue;
          const before = loader.bodyRuns;
          if (repeat === 0) await throughput(row.check, cfg.warmupMs);
          const k = key(row, placement);
          rates.set(k, [...(rates.get(k) ?? []), await throughput(row.check, cfg.throughputMs)]);
          lat.set(k, [...(lat.get(k) ?? []), await latencies(row.check, cfg.latencyMs)]);
          if (row.id === 'decorated') decoratedBodyRuns += loader.bodyRuns - before;
        }
      }
      log(`  hot path: repeat ${repeat + 1}/${CONFIG.repeats} done`);
    }
    pinning.release();

    const out: HotPathRow[] = [];
    for (const placement of placements)
      for (const row of rows) {
        const k = key(row, placement);
        if (!rates.has(k)) continue;
        out.push({
          id: k,
          label: row.label,
          placement: row.roundTrip ? placement : 'no round trip',
          checksPerSec: measured(rates.get(k)!),
          p50Us: measured(lat.get(k)!.map((l) => l.p50Us)),
          p99Us: measured(lat.get(k)!.map((l) => l.p99Us)),
        });
      }
    const dec = lat.get('decorated')!;
    const undec = lat.get('undecorated')!;
    const decRate = rates.get('decorated')!;
    const undecRate = rates.get('undecorated')!;
    return {
      rows: out,
      decorator: {
        p50OverheadUs: measured(dec.map((d, i) => d.p50Us - undec[i].p50Us)),
        p99OverheadUs: measured(dec.map((d, i) => d.p99Us - undec[i].p99Us)),
        meanOverheadUs: measured(decRate.map((d, i) => 1e6 / d - 1e6 / undecRate[i])),
      },
      decoratedBodyRuns,
      eventsSeen,
    };
  } finally {
    pinning.release();
    subscription.unsubscribe();
    await Promise.allSettled([
      libOn.close(),
      libOff.close(),
      libEv.close(),
      libOffAp.close(),
      redis.quit(),
    ]);
  }
}
