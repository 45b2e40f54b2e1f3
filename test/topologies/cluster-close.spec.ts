/**
 * A process closed during or right after a Cluster failover ends by itself, at once: on a real
 * Redis Cluster (3 masters with a replica each, cluster-node-timeout 1 s), a child process runs
 * the module on an ioredis `Cluster` (shard-local notices), a master is SIGKILLed, and the child
 * closes its app and its Cluster (test/topologies/close-after-failover.child.ts).
 *
 * While a master is down, ioredis's sharded subscriber group starts a subscriber to it at every
 * slot refresh, which fails at once: hundreds per second. Each failure used to leave two timers
 * that no quit() or disconnect() clears (a slot refresh up to 2.5 s later, and a 2 s
 * `disconnectTimeout` on the closed socket), so the process lived on for about 2 s after its
 * close, over 3 s on a busy machine (a chaos worker "still alive 3000 ms after app.close()").
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { sleep } from '../support/env';
import { RedisClusterTopology } from '../support/redis-topologies';

const ROOT = resolve(__dirname, '..', '..');
const CHILD = resolve(__dirname, 'close-after-failover.child.ts');

/**
 * How soon after its `closed` the child must have exited. It needs a few ms; a timer left by
 * the failover holds it 1.5 to 2.5 s. (The child prints what keeps it alive after 1 s.)
 */
const EXITS_WITHIN_MS = 1_000;

/** A child running the module on the Cluster, and what it printed so far. */
class Child {
  private output = '';
  private readonly process: ChildProcessWithoutNullStreams;
  private readonly exited: Promise<number | null>;

  constructor(ports: number[]) {
    this.process = spawn(
      process.execPath,
      ['-r', '@swc-node/register', CHILD, ...ports.map(String)],
      {
        cwd: ROOT,
      },
    );
    this.process.stdout.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.process.stderr.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = once(this.process, 'exit').then(([code]) => code as number | null);
  }

  /** Resolves once the child printed `line`; fails if it exits first or after `timeoutMs`. */
  async said(line: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.output.split('\n').includes(line)) {
      if (this.process.exitCode !== null || Date.now() > deadline)
        throw new Error(`the child did not print "${line}":\n${this.output}`);
      await sleep(5); // polling its output, which arrives as it prints
    }
  }

  /**
   * Tells the child to close; resolves with how it ended, measured from its `closed`, and what
   * kept it alive if it did not end in time.
   */
  async close(): Promise<{ exit: number | 'still alive'; alive: string | undefined }> {
    this.process.stdin.end('close\n');
    await this.said('closed');
    const exit = await Promise.race([
      this.exited,
      sleep(EXITS_WITHIN_MS).then(() => 'still alive' as const),
    ]);
    if (exit === 'still alive') {
      // What keeps it alive, for the failure message; then no child outlives the test.
      await Promise.race([this.exited, sleep(2 * EXITS_WITHIN_MS)]);
      this.kill();
    }
    return { exit: exit ?? -1, alive: /^alive: (.*)$/m.exec(this.output)?.[1] };
  }

  kill(): void {
    if (this.process.exitCode === null) this.process.kill('SIGKILL');
  }
}

describe('on a Redis Cluster, a process closed around a failover', () => {
  let cluster: RedisClusterTopology;
  const children: Child[] = [];
  const start = async (): Promise<Child> => {
    const child = new Child(await cluster.masterPorts());
    children.push(child);
    await child.said('ready');
    return child;
  };

  beforeAll(async () => {
    cluster = await RedisClusterTopology.start();
  }, 60_000);
  afterEach(() => children.splice(0).forEach((c) => c.kill()));
  afterAll(() => cluster?.stop());

  it('exits by itself at once when it closes while a master is down', async () => {
    const child = await start();
    const failover = cluster.failOverMasterOf('close-while-down');
    // The module's notification connection reports its shard subscriber failing: the master's
    // death has reached it, and the failed connects keep coming until the failover.
    await child.said('subscriber error');
    const ended = await child.close();
    const { killedPort } = await failover;
    await cluster.heal(killedPort);
    expect(ended).toEqual({ exit: 0, alive: undefined });
  }, 60_000);

  it('exits by itself at once when it closes right after a failover', async () => {
    const child = await start();
    const { killedPort } = await cluster.failOverMasterOf('close-after-failover');
    const ended = await child.close();
    await cluster.heal(killedPort);
    expect(ended).toEqual({ exit: 0, alive: undefined });
  }, 60_000);
});
