/**
 * A process with the module on a Redis Cluster (shard-local notices, on the app's ioredis
 * `Cluster`) for cluster-close.spec.ts: it prints `ready` once booted, and a line for each
 * failure of the module's notification connection that it logs (`subscriber error`), so the
 * spec can close it while a master is down. On `close` (stdin) it closes the app, then its own
 * Cluster, and prints `closed`; the process must then end by itself. Were it still running a
 * second later, it prints what keeps it alive (`alive: …`, Node's active resources).
 * Ports of the startup nodes as arguments.
 */
import type { LoggerService } from '@nestjs/common';
import { Cluster } from 'ioredis';
import { startApp } from '../support/apps';

const TELL_ALIVE_AFTER_MS = 1_000;

/** Prints the module's subscriber errors (debug) and every warning or error, one line each. */
const logger: LoggerService = {
  log: () => undefined,
  warn: (message: unknown) => console.log(`warn: ${String(message)}`),
  error: (message: unknown) => console.log(`error: ${String(message)}`),
  debug: (message: unknown) => {
    if (String(message).includes('subscriber error')) console.log('subscriber error');
  },
};

async function main(): Promise<void> {
  const ports = process.argv.slice(2).map(Number);
  const cluster = new Cluster(
    ports.map((port) => ({ host: '127.0.0.1', port })),
    { redisOptions: { maxRetriesPerRequest: 1 } },
  );
  cluster.on('error', () => undefined);
  const app = await startApp(
    { redis: cluster, keyPrefix: `close-after-failover-${process.pid}` },
    [],
    logger,
  );
  console.log('ready');
  let input = '';
  for await (const chunk of process.stdin) {
    input += String(chunk);
    if (input.includes('close')) break;
  }
  process.stdin.destroy();
  await app.close();
  await cluster.quit().catch(() => cluster.disconnect());
  console.log('closed');
  setTimeout(
    () => console.log(`alive: ${process.getActiveResourcesInfo().join(', ')}`),
    TELL_ALIVE_AFTER_MS,
  ).unref();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
