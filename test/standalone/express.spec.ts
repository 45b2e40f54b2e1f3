/**
 * `createLoadStatus()` outside Nest, in real processes: two Express servers from
 * example/express/server.ts share one Redis, a stampede on both loads the user once, neither
 * process loaded an `@nestjs/*` module, and each exits by itself after `close()`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { redisUrl, uniquePrefix } from '../support/env';

const SERVER = join(__dirname, '../../example/express/server.ts');
const ROOT = join(__dirname, '../..');

interface Started {
  child: ChildProcess;
  port: number;
  nestModules: string[];
  exited: Promise<number | null>;
  /** The `@nestjs` modules loaded when it stopped (after the whole run and its shutdown). */
  stopped: Promise<string[]>;
}

function start(keyPrefix: string): Promise<Started> {
  const child = fork(SERVER, [], {
    cwd: ROOT,
    execArgv: ['-r', '@swc-node/register'],
    env: {
      ...process.env,
      REDIS_URL: redisUrl(),
      PORT: '0',
      KEY_PREFIX: keyPrefix,
      LOAD_MS: '300',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const stopped = new Promise<string[]>((resolve) =>
    child.on('message', (message: { type: string; nestModules: string[] }) => {
      if (message.type === 'stopped') resolve(message.nestModules);
    }),
  );
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    void exited.then((code) => reject(new Error(`server exited with ${code} before it was ready`)));
    child.on('message', (message: { type: string; port: number; nestModules: string[] }) => {
      if (message.type === 'ready') resolve({ child, exited, stopped, ...message });
    });
  });
}

interface Reply {
  outcome: string;
  data: { userId: string; loadedBy: number } | null;
}

describe('createLoadStatus() in an Express app, two processes (nestjs-load-status/standalone)', () => {
  it('loads a user once for 25 concurrent requests on each process, with no Nest module loaded', async () => {
    const keyPrefix = uniquePrefix('express');
    const servers = await Promise.all([start(keyPrefix), start(keyPrefix)]);
    try {
      expect(servers.map((s) => s.nestModules)).toEqual([[], []]);

      const replies = await Promise.all(
        servers.flatMap((s) =>
          Array.from({ length: 25 }, async () => {
            const response = await fetch(`http://127.0.0.1:${s.port}/users/u1/servers`);
            expect(response.status).toBe(200);
            return (await response.json()) as Reply;
          }),
        ),
      );
      const stats = await Promise.all(
        servers.map(
          async (s) =>
            (await (await fetch(`http://127.0.0.1:${s.port}/stats`)).json()) as {
              pid: number;
              loaderRuns: number;
            },
        ),
      );
      expect(stats.reduce((sum, s) => sum + s.loaderRuns, 0)).toBe(1);
      const loader = stats.find((s) => s.loaderRuns === 1)!.pid;
      // Every request, in either process, read the one load's data from the shared cache.
      expect(replies.filter((r) => r.data?.loadedBy !== loader)).toEqual([]);
      // The loader's process: one call ran it, the others shared its flight ('loaded'); the
      // other process waited for it, or (arriving late) found it loaded.
      const outcomes = replies.map((r) => r.outcome);
      expect(outcomes.filter((o) => o === 'loaded')).toHaveLength(25);
      expect(
        outcomes.filter(
          (o) => o !== 'loaded' && o !== 'loaded-elsewhere' && o !== 'already-loaded',
        ),
      ).toEqual([]);
    } finally {
      for (const s of servers) s.child.send({ type: 'stop' });
    }
    // close() released everything: each process ends by itself, with success.
    expect(await Promise.all(servers.map((s) => s.exited))).toEqual([0, 0]);
    expect(await Promise.all(servers.map((s) => s.stopped))).toEqual([[], []]);
  });
});
