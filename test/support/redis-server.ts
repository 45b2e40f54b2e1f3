import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import type { TlsFiles } from './tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER } from './server-kind';

/** Why a run without its server fails, and how to get one (`LOAD_STATUS_TEST_SERVER` picks it). */
export const NO_REDIS_MESSAGE = `These tests need a ${SERVER.kind === 'valkey' ? 'Valkey' : 'Redis'} server. ${SERVER.install}`;

/**
 * Set by `npm run test:unit`, which runs only the specs that need no server: a spec there that
 * starts one, or asks for the run's, fails with this instead of a server.
 */
export const NO_SERVER_IN_UNIT_RUN =
  'npm run test:unit runs only the specs that need no server (jest.unit.config.js picks them by ' +
  'their imports), and this one needs one: run it with npm test, or give it the import that marks it';

/** Throws inside `npm run test:unit` (see {@link NO_SERVER_IN_UNIT_RUN}). */
export function assertServersAllowed(): void {
  if (process.env.LOAD_STATUS_UNIT_RUN === '1') throw new Error(NO_SERVER_IN_UNIT_RUN);
}

/** True if the server binary of this run (`redis-server`, or `valkey-server`) is on PATH. */
export function hasRedisServerBinary(): boolean {
  const probe = spawnSync(SERVER.server, ['--version'], { stdio: 'ignore' });
  return probe.status === 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A `redis-server` (or `valkey-server`, see `server-kind.ts`) process owned by a test: nothing
 * persisted, bound to loopback on a free port. It can be killed and restarted on the same port to
 * simulate outages.
 */
export class RedisServer {
  private child: ChildProcess | undefined;
  /** Its working directory (cluster and sentinel config files live here). */
  readonly dir = mkdtempSync(join(tmpdir(), 'load-status-redis-'));

  private constructor(
    readonly port: number,
    /** Further `redis-server` arguments (cluster, replication, ACL, sentinel). */
    private readonly extraArgs: (server: RedisServer) => string[],
    /** A config file to start from (the sentinel's), written into `dir` before each start. */
    private readonly configFile?: (server: RedisServer) => string,
    /** Serve TLS only, on `port`, with these files (see test/support/tls.ts). */
    readonly tls?: TlsFiles,
  ) {}

  static async start(
    options: {
      port?: number;
      args?: (server: RedisServer) => string[];
      configFile?: (server: RedisServer) => string;
      tls?: TlsFiles;
    } = {},
  ): Promise<RedisServer> {
    assertServersAllowed();
    if (!hasRedisServerBinary()) throw new Error(NO_REDIS_MESSAGE);
    const server = new RedisServer(
      options.port ?? (await freePort()),
      options.args ?? (() => []),
      options.configFile,
      options.tls,
    );
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts (again) on the same port and resolves once it answers PING. */
  async restart(): Promise<void> {
    if (this.child) throw new Error('redis-server is already running');
    const config = this.configFile?.(this);
    let configPath: string[] = [];
    if (config !== undefined) {
      configPath = [join(this.dir, 'redis.conf')];
      writeFileSync(configPath[0], config);
    }
    const child = spawn(
      SERVER.server,
      [
        ...configPath,
        ...(this.tls
          ? [
              '--port',
              '0',
              '--tls-port',
              String(this.port),
              '--tls-cert-file',
              this.tls.certFile,
              '--tls-key-file',
              this.tls.keyFile,
              '--tls-ca-cert-file',
              this.tls.caFile,
              '--tls-auth-clients',
              'no',
            ]
          : ['--port', String(this.port)]),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        '--loglevel',
        'warning',
        // DEBUG SLEEP lets tests stall the server without losing its state.
        '--enable-debug-command',
        'local',
        ...this.extraArgs(this),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child = child;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) =>
        reject(new Error(`${SERVER.server} exited with ${code}: ${stderr}`)),
      ),
    );
    exited.catch(() => undefined);
    await Promise.race([waitForPing(this.port, this.tls), exited]);
    child.removeAllListeners('exit');
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
  }

  /** Kills the server (SIGKILL by default) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await gone;
    // Do not wait for the stderr pipe to drain: the process is gone and jest should exit now.
    child.stderr?.destroy();
    this.child = undefined;
  }

  /** Sends `signal` without waiting (SIGSTOP freezes it with its state and sockets; SIGCONT thaws). */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    this.child?.kill(signal);
  }

  async stop(): Promise<void> {
    this.signal('SIGCONT'); // a frozen server would never see the SIGTERM
    await this.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function waitForPing(port: number, tls?: TlsFiles, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ping(port, tls)) return;
    if (Date.now() > deadline)
      throw new Error(
        `${SERVER.server} on port ${port} did not answer PING within ${timeoutMs} ms`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True once the server answers PING: PONG, or a refusal (it requires a password, so it runs). */
function ping(port: number, tls?: TlsFiles): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls
      ? tlsConnect({
          port,
          host: '127.0.0.1',
          ca: readFileSync(tls.caFile),
          servername: 'localhost',
        })
      : new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    if (tls) socket.once('secureConnect', () => socket.write('PING\r\n'));
    else socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data: Buffer) => done(/^(\+PONG|-NOAUTH)/.test(data.toString())));
  });
}
