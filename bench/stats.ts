import * as hdr from 'hdr-histogram-js';
import type { Redis } from 'ioredis';

/** A latency histogram in nanoseconds (HDR, 3 significant digits, pure JS build). */
export function nsHistogram(): hdr.Histogram {
  return hdr.build({
    bitBucketSize: 64,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

/** Nearest-rank percentile of a small sample (exact; the sample need not be sorted). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

/** Median; Infinity (e.g. "did not happen within the cap") sorts last and can be the median. */
export function median(values: readonly number[]): number {
  const sorted = values
    .filter((v) => !Number.isNaN(v))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A metric measured once per repeat; tables show the median. */
export interface Measured {
  median: number;
  runs: number[];
}

export function measured(runs: number[]): Measured {
  return { median: median(runs), runs };
}

/** `INFO commandstats` as command → calls. */
export async function commandStats(admin: Redis): Promise<Map<string, number>> {
  const info = await admin.info('commandstats');
  const out = new Map<string, number>();
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/**
 * Commands Redis ran between two snapshots, INFO itself excluded. Redis counts the commands a Lua
 * script runs as well as the EVALSHA that ran it.
 */
export function commandDelta(
  before: Map<string, number>,
  after: Map<string, number>,
): { total: number; byCommand: Record<string, number> } {
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const [command, calls] of after) {
    if (command === 'info') continue;
    const delta = calls - (before.get(command) ?? 0);
    if (delta > 0) {
      byCommand[command] = delta;
      total += delta;
    }
  }
  return { total, byCommand };
}
