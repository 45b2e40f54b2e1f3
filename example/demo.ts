/**
 * `npm run demo` (in-memory) or `REDIS_URL=redis://127.0.0.1:6379 npm run demo`.
 *
 * Boots the example app on a free port, sends a burst of concurrent requests for a few cold
 * users, then the same burst again for the now-warm users, and prints how many times the
 * expensive loader ran and what the requests cost.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { LoadStatusService } from '../src';
import { AppModule } from './app.module';
import { USER_DATA_LOAD, UserDataService } from './user-data.service';
import type { UserDataResponse } from './users.controller';

const USERS = 5;
const REQUESTS_PER_USER = 40;
const LOAD_MS = 200;

interface BurstResult {
  name: string;
  latencies: number[];
  loaderRuns: number;
  outcomes: Map<string, number>;
}

async function main(): Promise<void> {
  const redisUrl = process.env.REDIS_URL || undefined;
  const store = redisUrl ? `redis (${redisUrl})` : 'in-memory';
  console.log(`store: ${store}`);

  const app = await NestFactory.create<NestExpressApplication>(
    // A short flag TTL: the demo's users are throwaway (their ids are unique to this run).
    AppModule.register({ redisUrl, loadMs: LOAD_MS, loadedTtlMs: 60_000 }),
    { logger: ['warn', 'error'] },
  );
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  const users = Array.from({ length: USERS }, (_, i) => `demo-${randomUUID().slice(0, 8)}-${i}`);
  const service = app.get(UserDataService);

  const get = async (user: string, outcomes: Map<string, number>): Promise<number> => {
    const started = performance.now();
    const response = await fetch(`${base}/users/${user}/data`);
    if (response.status !== 200) throw new Error(`GET ${user}: HTTP ${response.status}`);
    const body = (await response.json()) as UserDataResponse;
    const latency = performance.now() - started;
    if (body.data?.userId !== user) throw new Error(`GET ${user}: no data in the cache`);
    outcomes.set(body.outcome, (outcomes.get(body.outcome) ?? 0) + 1);
    return latency;
  };
  /** Every user's requests at once. */
  const burst = async (name: string): Promise<BurstResult> => {
    const runsBefore = service.loaderRuns;
    const outcomes = new Map<string, number>();
    const latencies = await Promise.all(
      users.flatMap((user) => Array.from({ length: REQUESTS_PER_USER }, () => get(user, outcomes))),
    );
    return { name, latencies, loaderRuns: service.loaderRuns - runsBefore, outcomes };
  };
  /** A few requests one after another: the cost of one warm request without queueing. */
  const sequence = async (name: string): Promise<BurstResult> => {
    const runsBefore = service.loaderRuns;
    const outcomes = new Map<string, number>();
    const latencies: number[] = [];
    for (let i = 0; i < 4 * USERS; i++) latencies.push(await get(users[i % USERS], outcomes));
    return { name, latencies, loaderRuns: service.loaderRuns - runsBefore, outcomes };
  };

  let cold: BurstResult;
  let warm: BurstResult;
  let warmOneByOne: BurstResult;
  let metrics: string;
  try {
    cold = await burst('cold, concurrent');
    warm = await burst('warm, concurrent');
    warmOneByOne = await sequence('warm, one at a time');
    metrics = await (await fetch(`${base}/metrics`)).text();
    // Tidy up: the flags of this run's users need not outlive it.
    const status = app.get(LoadStatusService);
    await Promise.all(users.map((user) => status.clearLoaded(user, { name: USER_DATA_LOAD })));
  } finally {
    await app.close();
  }

  console.log();
  console.log(
    `${USERS} cold users x ${REQUESTS_PER_USER} concurrent requests each, all at once; the loader takes ${LOAD_MS} ms.`,
  );
  console.log(
    'Latency is measured by a client in the same process, so concurrent rows include queueing.',
  );
  console.log();
  const header = [
    'burst',
    'store',
    'requests',
    'users',
    'loader runs',
    'p50 ms',
    'p99 ms',
    'max ms',
    'outcomes',
  ];
  const rows = [cold, warm, warmOneByOne].map((b) => {
    const sorted = [...b.latencies].sort((x, y) => x - y);
    return [
      b.name,
      redisUrl ? 'redis' : 'memory',
      String(sorted.length),
      String(USERS),
      String(b.loaderRuns),
      percentile(sorted, 50).toFixed(1),
      percentile(sorted, 99).toFixed(1),
      sorted[sorted.length - 1].toFixed(1),
      [...b.outcomes].map(([k, n]) => `${k} ${n}`).join(', '),
    ];
  });
  printTable(header, rows);

  const warmRuns = warm.loaderRuns + warmOneByOne.loaderRuns;
  const ok = cold.loaderRuns === USERS && warmRuns === 0;
  console.log();
  console.log(
    ok
      ? `OK: the loader ran once per user (${USERS}), and not at all for warm users.`
      : `UNEXPECTED: ${cold.loaderRuns} loader runs for ${USERS} cold users, ${warmRuns} for warm ones.`,
  );
  if (!ok) process.exitCode = 1;

  console.log();
  console.log(
    'GET /metrics (Prometheus, built from LoadStatusEvents; histogram buckets left out):',
  );
  for (const metric of metrics.split('\n')) {
    if (metric.startsWith('load_status_') && !metric.includes('_bucket{'))
      console.log(`  ${metric}`);
  }
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 || i === 1 || i === cells.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of rows) console.log(line(row));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
