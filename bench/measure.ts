import { nsHistogram } from './stats';

export interface LatencySummary {
  p50Us: number;
  p99Us: number;
  maxUs: number;
  count: number;
}

/**
 * Sequential calls per second over `ms`, without timing single calls: calls run in batches that
 * grow until a batch takes at least a millisecond, and the clock is read between batches only.
 */
export async function throughput(fn: () => Promise<unknown>, ms: number): Promise<number> {
  let batch = 1;
  let ops = 0;
  const start = performance.now();
  const end = start + ms;
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < batch; i++) await fn();
    ops += batch;
    const n = performance.now();
    if (n >= end) return ops / ((n - start) / 1000);
    if (n - t < 1 && batch < 65_536) batch *= 2;
  }
}

/** Times every sequential call for `ms` into an HDR histogram (ns); returns percentiles in µs. */
export async function latencies(fn: () => Promise<unknown>, ms: number): Promise<LatencySummary> {
  const histogram = nsHistogram();
  const end = performance.now() + ms;
  let count = 0;
  for (;;) {
    for (let i = 0; i < 256; i++) {
      const t0 = performance.now();
      await fn();
      const t1 = performance.now();
      histogram.recordValue(Math.max(1, Math.round((t1 - t0) * 1e6)));
    }
    count += 256;
    if (performance.now() >= end) break;
  }
  const summary = {
    p50Us: histogram.getValueAtPercentile(50) / 1000,
    p99Us: histogram.getValueAtPercentile(99) / 1000,
    maxUs: histogram.maxValue / 1000,
    count,
  };
  histogram.destroy();
  return summary;
}

/** `concurrency` loops, each calling `fn(i)` back to back for `ms`; total calls per second. */
export async function concurrentThroughput(
  fn: (loop: number) => Promise<unknown>,
  concurrency: number,
  ms: number,
): Promise<number> {
  let ops = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, loop) => {
      while (performance.now() < end) {
        await fn(loop);
        ops++;
      }
    }),
  );
  return ops / ((performance.now() - start) / 1000);
}
