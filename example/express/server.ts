/**
 * The pattern this library comes from, in the kind of app it came from: an Express server, no
 * Nest, several processes. Each process serves `GET /users/:id/servers`; the first request for a
 * cold user loads that user's servers (slowly) into a cache every process reads (Redis), and
 * every other request, in this process or another, waits for that load and then reads the cache.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 PORT=3001 node -r @swc-node/register example/express/server.ts
 *   REDIS_URL=redis://127.0.0.1:6379 PORT=3002 node -r @swc-node/register example/express/server.ts
 *
 * Without REDIS_URL it runs on the in-memory store: one process, on purpose.
 */
import express from 'express';
import { Redis } from 'ioredis';
import type { Server } from 'node:http';
import { createLoadStatus } from '../../src/standalone';

/** The data one load fills, as the app's own cache holds it. */
interface Servers {
  readonly userId: string;
  readonly servers: string[];
  /** Which process loaded it, to show that one did. */
  readonly loadedBy: number;
}

const LOAD = 'servers';
const redisUrl = process.env.REDIS_URL;
const keyPrefix = process.env.KEY_PREFIX ?? 'express-example';
const loadMs = Number(process.env.LOAD_MS ?? 200);

async function main(): Promise<void> {
  const loadStatus = await createLoadStatus({
    store: redisUrl === undefined ? 'memory' : 'redis',
    redis: redisUrl,
    keyPrefix,
    loadedTtlMs: 60_000,
  });
  // The app's own data cache: shared through Redis when there is one, else this process's memory.
  const shared = redisUrl === undefined ? undefined : new Redis(redisUrl);
  const local = new Map<string, string>();
  const cacheKey = (userId: string) => `${keyPrefix}-data:${userId}`;
  const cache = {
    get: async (userId: string) =>
      shared ? await shared.get(cacheKey(userId)) : local.get(cacheKey(userId)),
    set: async (userId: string, value: string) => {
      if (shared) await shared.set(cacheKey(userId), value, 'PX', 60_000);
      else local.set(cacheKey(userId), value);
    },
  };
  let loaderRuns = 0;

  const app = express();
  app.get('/users/:id/servers', async (req, res, next) => {
    try {
      const userId = req.params.id;
      const outcome = await loadStatus.locks.ensureLoaded(
        userId,
        async () => {
          loaderRuns++;
          await new Promise((resolve) => setTimeout(resolve, loadMs)); // the slow database
          const data: Servers = { userId, servers: ['eu-1', 'us-2'], loadedBy: process.pid };
          await cache.set(userId, JSON.stringify(data));
          return data;
        },
        { name: LOAD },
      );
      const cached = await cache.get(userId);
      res.json({
        outcome: outcome.status,
        data: cached === undefined || cached === null ? null : (JSON.parse(cached) as Servers),
      });
    } catch (error) {
      next(error);
    }
  });
  app.get('/stats', (_req, res) => {
    res.json({ pid: process.pid, loaderRuns });
  });

  const server: Server = await new Promise((resolve) => {
    const s = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  // Started by a parent (the tests): tell it where we listen, and what this process loaded.
  const nestModules = () => Object.keys(require.cache).filter((path) => path.includes('@nestjs'));
  process.send?.({ type: 'ready', port, nestModules: nestModules() });
  if (!process.send) process.stdout.write(`listening on http://127.0.0.1:${port}\n`);

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await loadStatus.close();
    await shared?.quit();
    // Everything ran, shutdown included: still no Nest module loaded.
    process.send?.({ type: 'stopped', nestModules: nestModules() });
    process.disconnect?.();
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.on('message', (message) => {
    if ((message as { type?: string }).type === 'stop') void stop();
  });
}

void main();
