/**
 * Refresh-ahead under steady traffic from real processes: 3 workers call `ensureLoaded` for one
 * active user every ~25 ms for more than three flag TTLs. After the first (cold) load no caller
 * waits or loads in the foreground: each is answered `already-loaded`, and one process reloads
 * in the background while the flag is in its refresh window, before it runs out. Loader runs
 * come from the workers' run logs (background loads included).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep, uniquePrefix } from '../support/env';
import { callersOf, failures, now, readRunLogs, workerPool } from './harness';

const TTL_MS = 1_000;
const AHEAD_MS = 400;
const LOAD_MS = 150;
const TRAFFIC_MS = 4_000;

describe('refresh-ahead under steady traffic across processes', () => {
  const pool = workerPool();

  it('no caller waits after the first load; the loader runs about once per (TTL − refreshAheadMs + load)', async () => {
    const runLogDir = mkdtempSync(join(tmpdir(), 'load-status-refresh-'));
    try {
      const workers = await pool.start(3, {
        keyPrefix: uniquePrefix('mp-refresh'),
        runLogDir,
        options: { loadedTtlMs: TTL_MS, refreshAheadMs: AHEAD_MS },
      });
      const started = now();
      const callers = [];
      while (now() - started < TRAFFIC_MS) {
        const reports = await pool.runTogether(workers, {
          userIds: ['active'],
          callersPerUser: 3,
          loadMs: LOAD_MS,
          mode: 'ensureLoaded',
        });
        callers.push(...callersOf(reports));
        await sleep(25);
      }
      await sleep(LOAD_MS + 100); // a background load still running ends
      const loads = readRunLogs(runLogDir).sort((x, y) => x.start - y.start);

      expect(failures(callers)).toEqual([]);
      const [cold, ...refreshes] = loads;
      expect(loads.every((l) => l.ok)).toBe(true);
      // Every caller that started after the cold load ended was served at once.
      const later = callers.filter((c) => c.start > cold.end!);
      expect(later.length).toBeGreaterThan(300);
      expect(later.filter((c) => c.status !== 'already-loaded')).toEqual([]);
      // Each refresh began inside the previous flag's refresh window, before it ran out: one at
      // a time, never an expired flag.
      for (const [i, load] of refreshes.entries()) {
        const previousEnd = loads[i].end!;
        expect(load.start - previousEnd).toBeGreaterThanOrEqual(TTL_MS - AHEAD_MS - 50);
        expect(load.start - previousEnd).toBeLessThan(TTL_MS);
      }
      const expected = (now() - started) / (TTL_MS - AHEAD_MS + LOAD_MS);
      console.log(
        `refresh-ahead, steady traffic: ${loads.length} loads in ${Math.round(now() - started)} ms (expected ≈ ${expected.toFixed(1)}), ${later.length} later callers all already-loaded`,
      );
      expect(Math.abs(loads.length - expected)).toBeLessThanOrEqual(1.5);
    } finally {
      rmSync(runLogDir, { recursive: true, force: true });
    }
  }, 60_000);
});
