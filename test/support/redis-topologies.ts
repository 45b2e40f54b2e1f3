/**
 * Real Redis topologies for the suites, on free loopback ports, torn down after: a Redis Cluster
 * (masters with replicas, made by `redis-cli --cluster create`) and a Sentinel group (a master,
 * replicas, sentinels). Start one per suite (`beforeAll`) and share it between its specs; helpers
 * find a user's master, kill it and wait for the promotion.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import calculateSlot from 'cluster-key-slot';
import { freePort, RedisServer } from './redis-server';
import { now, sleep } from './clock';
import { SERVER } from './server-kind';

const run = promisify(execFile);

/** One command through `redis-cli` (or `valkey-cli`), its reply as text. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run(SERVER.cli, ['-p', String(port), ...args], { timeout: 10_000 });
  return stdout.trim();
}

/** Polls `check` every `everyMs` until it holds; fails with `what` after `timeoutMs`. */
export async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

export interface ClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** `cluster-node-timeout`: how soon a dead master is failed over. @default 1000 */
  nodeTimeoutMs?: number;
}

/** A local Redis Cluster. */
export class RedisClusterTopology {
  private constructor(readonly nodes: RedisServer[]) {}

  static async start(options: ClusterOptions = {}): Promise<RedisClusterTopology> {
    const masters = options.masters ?? 3;
    const replicas = options.replicasPerMaster ?? 1;
    const nodeTimeoutMs = options.nodeTimeoutMs ?? 1_000;
    const nodes: RedisServer[] = [];
    try {
      for (let i = 0; i < masters * (1 + replicas); i++) {
        const busPort = await freePort();
        nodes.push(
          await RedisServer.start({
            args: () => [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              'nodes.conf',
              '--cluster-node-timeout',
              String(nodeTimeoutMs),
              '--cluster-port',
              String(busPort),
              // A replica whose master died long ago still takes over (tests kill masters often).
              '--cluster-replica-validity-factor',
              '0',
            ],
          }),
        );
      }
      await run(
        SERVER.cli,
        [
          '--cluster',
          'create',
          ...nodes.map((n) => `127.0.0.1:${n.port}`),
          '--cluster-replicas',
          String(replicas),
          '--cluster-yes',
        ],
        { timeout: 60_000 },
      );
      const cluster = new RedisClusterTopology(nodes);
      await cluster.waitUntilHealthy();
      return cluster;
    } catch (error) {
      await Promise.all(nodes.map((n) => n.stop()));
      throw error;
    }
  }

  /** Addresses to give a cluster client. */
  get startupNodes(): Array<{ host: string; port: number }> {
    return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  }

  /** Nodes that are running. */
  get running(): RedisServer[] {
    return this.nodes.filter((n) => n.pid !== undefined);
  }

  /** Every slot assigned, every running node agreeing the cluster is ok, every replica in sync. */
  async waitUntilHealthy(timeoutMs = 30_000): Promise<void> {
    await until(
      'the cluster to be healthy',
      async () => {
        for (const node of this.running) {
          const info = await redisCli(node.port, 'CLUSTER', 'INFO');
          if (infoField(info, 'cluster_state') !== 'ok') return false;
          if (infoField(info, 'cluster_slots_ok') !== '16384') return false;
          const replication = await redisCli(node.port, 'INFO', 'replication');
          if (infoField(replication, 'role') === 'slave') {
            if (infoField(replication, 'master_link_status') !== 'up') return false;
          }
        }
        return true;
      },
      timeoutMs,
    );
  }

  /** The port of the master that serves `key`'s slot, as a running node sees the cluster. */
  async masterPortOf(key: string): Promise<number> {
    const slot = calculateSlot(key);
    const probe = this.running[0];
    const slots = await redisCli(probe.port, '--json', 'CLUSTER', 'SLOTS');
    const ranges = JSON.parse(slots) as Array<[number, number, [string, number, ...unknown[]]]>;
    const range = ranges.find(([from, to]) => slot >= from && slot <= to);
    if (!range) throw new Error(`no master serves slot ${slot}`);
    return range[2][1];
  }

  /** The ports of the masters, as a running node sees the cluster. */
  async masterPorts(): Promise<number[]> {
    const nodes = await redisCli(this.running[0].port, 'CLUSTER', 'NODES');
    return nodes
      .split('\n')
      .filter((line) => /\bmaster\b/.test(line) && !/\bfail\b/.test(line))
      .map((line) => Number(/:(\d+)@/.exec(line)![1]));
  }

  node(port: number): RedisServer {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node on port ${port}`);
    return node;
  }

  /**
   * SIGKILLs the master serving `key` and waits until a replica took its slots over and the
   * cluster is ok again. Resolves with the dead master's port (restart it with `node(port)`), its
   * slots, when a node first showed the replica serving them (`promotedAt`) and when every node
   * said the cluster was ok (`okAt`; wall-clock ms), and whether the nodes refuse every slot
   * while one is not served (`cluster-require-full-coverage`).
   */
  async failOverMasterOf(key: string): Promise<{
    killedPort: number;
    newMasterPort: number;
    slots: Array<[number, number]>;
    promotedAt: number;
    okAt: number;
    fullCoverage: boolean;
  }> {
    const killedPort = await this.masterPortOf(key);
    const coverage = await redisCli(
      this.running[0].port,
      'CONFIG',
      'GET',
      'cluster-require-full-coverage',
    );
    const fullCoverage = coverage.split('\n')[1]?.trim() === 'yes';
    const ranges = JSON.parse(
      await redisCli(this.running[0].port, '--json', 'CLUSTER', 'SLOTS'),
    ) as Array<[number, number, [string, number, ...unknown[]]]>;
    const slots = ranges
      .filter((r) => r[2][1] === killedPort)
      .map(([from, to]): [number, number] => [from, to]);
    await this.node(killedPort).kill();
    let newMasterPort = killedPort;
    await until('a replica to take over', async () => {
      newMasterPort = await this.masterPortOf(key);
      return newMasterPort !== killedPort;
    });
    const promotedAt = now();
    await until('the cluster to be ok after the failover', async () => {
      for (const node of this.running) {
        const info = await redisCli(node.port, 'CLUSTER', 'INFO');
        if (infoField(info, 'cluster_state') !== 'ok') return false;
      }
      return true;
    });
    return { killedPort, newMasterPort, slots, promotedAt, okAt: now(), fullCoverage };
  }

  /**
   * Moves the slot of `key` to another master, keys included (IMPORTING / MIGRATING, MIGRATE,
   * SETSLOT NODE on every master), as a resharding does. Clients with the old slot map get MOVED.
   */
  async moveSlotOf(key: string): Promise<{ from: number; to: number }> {
    const slot = String(calculateSlot(key));
    const from = await this.masterPortOf(key);
    const masters = await this.masterPorts();
    const to = masters.find((p) => p !== from)!;
    const [fromId, toId] = await Promise.all([
      redisCli(from, 'CLUSTER', 'MYID'),
      redisCli(to, 'CLUSTER', 'MYID'),
    ]);
    await redisCli(to, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId);
    await redisCli(from, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId);
    for (;;) {
      const keys = (await redisCli(from, 'CLUSTER', 'GETKEYSINSLOT', slot, '100'))
        .split('\n')
        .filter(Boolean);
      if (keys.length === 0) break;
      await redisCli(from, 'MIGRATE', '127.0.0.1', String(to), '', '0', '5000', 'KEYS', ...keys);
    }
    for (const port of masters) await redisCli(port, 'CLUSTER', 'SETSLOT', slot, 'NODE', toId);
    await until('every node to agree on the moved slot', async () => {
      for (const node of this.running) {
        const slots = JSON.parse(await redisCli(node.port, '--json', 'CLUSTER', 'SLOTS')) as Array<
          [number, number, [string, number, ...unknown[]]]
        >;
        const range = slots.find(([a, b]) => Number(slot) >= a && Number(slot) <= b);
        if (range?.[2][1] !== to) return false;
      }
      return true;
    });
    return { from, to };
  }

  /** Restarts a killed node (it keeps its node id and rejoins as a replica) and waits for health. */
  async heal(port: number): Promise<void> {
    await this.node(port).restart();
    await this.waitUntilHealthy();
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}

export interface SentinelOptions {
  replicas?: number;
  sentinels?: number;
  /** `down-after-milliseconds`: how soon a dead master is noticed. @default 1000 */
  downAfterMs?: number;
}

/** A local Sentinel group monitoring one master (`mymaster`). */
export class RedisSentinelTopology {
  static readonly masterName = 'mymaster';

  private constructor(
    readonly dataNodes: RedisServer[],
    readonly sentinels: RedisServer[],
  ) {}

  static async start(options: SentinelOptions = {}): Promise<RedisSentinelTopology> {
    const replicas = options.replicas ?? 2;
    const sentinelCount = options.sentinels ?? 3;
    const downAfterMs = options.downAfterMs ?? 1_000;
    const dataNodes: RedisServer[] = [];
    const sentinels: RedisServer[] = [];
    try {
      const master = await RedisServer.start();
      dataNodes.push(master);
      for (let i = 0; i < replicas; i++) {
        dataNodes.push(
          await RedisServer.start({
            args: () => ['--replicaof', '127.0.0.1', String(master.port)],
          }),
        );
      }
      const quorum = Math.floor(sentinelCount / 2) + 1;
      for (let i = 0; i < sentinelCount; i++) {
        sentinels.push(
          await RedisServer.start({
            // Sentinel rewrites its config file, so it lives in the server's own directory.
            configFile: (s) =>
              [
                `port ${s.port}`,
                'bind 127.0.0.1',
                `dir ${s.dir}`,
                `sentinel monitor ${RedisSentinelTopology.masterName} 127.0.0.1 ${master.port} ${quorum}`,
                `sentinel down-after-milliseconds ${RedisSentinelTopology.masterName} ${downAfterMs}`,
                `sentinel failover-timeout ${RedisSentinelTopology.masterName} 5000`,
                `sentinel parallel-syncs ${RedisSentinelTopology.masterName} 1`,
                '',
              ].join('\n'),
            args: () => ['--sentinel'],
          }),
        );
      }
      const group = new RedisSentinelTopology(dataNodes, sentinels);
      await group.waitUntilHealthy(replicas, sentinelCount);
      return group;
    } catch (error) {
      await Promise.all([...dataNodes, ...sentinels].map((n) => n.stop()));
      throw error;
    }
  }

  /** Addresses to give a Sentinel client. */
  get sentinelAddresses(): Array<{ host: string; port: number }> {
    return this.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port }));
  }

  /** The master's port, as the first running sentinel reports it. */
  async masterPort(): Promise<number> {
    const sentinel = this.sentinels.find((s) => s.pid !== undefined)!;
    const reply = await redisCli(
      sentinel.port,
      'SENTINEL',
      'get-master-addr-by-name',
      RedisSentinelTopology.masterName,
    );
    return Number(reply.split('\n')[1]);
  }

  /** Every sentinel knows the master, its replicas and the other sentinels. */
  async waitUntilHealthy(
    replicas: number,
    sentinelCount: number,
    timeoutMs = 30_000,
  ): Promise<void> {
    await until(
      'the sentinel group to be healthy',
      async () => {
        for (const sentinel of this.sentinels) {
          const fields = (
            await redisCli(sentinel.port, 'SENTINEL', 'MASTER', RedisSentinelTopology.masterName)
          ).split('\n');
          const get = (name: string) => fields[fields.indexOf(name) + 1];
          if (Number(get('num-slaves')) < replicas) return false;
          if (Number(get('num-other-sentinels')) < sentinelCount - 1) return false;
          if (/s_down|o_down/.test(get('flags'))) return false;
        }
        return true;
      },
      timeoutMs,
    );
  }

  node(port: number): RedisServer {
    const node = this.dataNodes.find((n) => n.port === port);
    if (!node) throw new Error(`no data node on port ${port}`);
    return node;
  }

  /** SIGKILLs the master and waits until the sentinels promoted a replica. */
  async failOver(): Promise<{ killedPort: number; newMasterPort: number }> {
    const killedPort = await this.masterPort();
    await this.node(killedPort).kill();
    return { killedPort, newMasterPort: await this.waitForPromotion(killedPort) };
  }

  /** Waits until the sentinels promoted a replica other than `oldMasterPort` (after a kill). */
  async waitForPromotion(oldMasterPort: number): Promise<number> {
    let newMasterPort = oldMasterPort;
    await until('the sentinels to promote a replica', async () => {
      newMasterPort = await this.masterPort();
      if (newMasterPort === oldMasterPort) return false;
      return (await redisCli(newMasterPort, 'ROLE')).startsWith('master');
    });
    return newMasterPort;
  }

  /**
   * Restarts a killed node (empty; the sentinels turn it into a replica of the new master) and
   * waits until it replicates and the group is healthy again.
   */
  async heal(port: number): Promise<void> {
    await this.node(port).restart();
    await this.follow(port, await this.masterPort());
    await this.waitUntilHealthy(this.dataNodes.length - 1, this.sentinels.length);
  }

  /**
   * Points every live replica at the current master and waits until each replicates it. After a
   * failover the sentinels reconfigure the other replicas, but one they saw as down (frozen, or
   * its link dropped) waits a failover timeout and more; a test that needs a replica's
   * acknowledgement right after a promotion calls this instead of waiting for them.
   */
  async replicasFollowMaster(): Promise<void> {
    const master = await this.masterPort();
    await Promise.all((await this.replicas()).map((r) => this.follow(r.port, master)));
  }

  /** `REPLICAOF` the master at once, as the sentinels would in a while, and waits for the link. */
  private async follow(port: number, masterPort: number): Promise<void> {
    await redisCli(port, 'REPLICAOF', '127.0.0.1', String(masterPort));
    await until(
      `node ${port} to replicate the master on ${masterPort}`,
      async () => {
        const replication = await redisCli(port, 'INFO', 'replication');
        return (
          infoField(replication, 'role') === 'slave' &&
          infoField(replication, 'master_link_status') === 'up'
        );
      },
      30_000,
    );
  }

  /** The data nodes that replicate the current master. */
  async replicas(): Promise<RedisServer[]> {
    const master = await this.masterPort();
    return this.dataNodes.filter((n) => n.port !== master && n.pid !== undefined);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sentinels, ...this.dataNodes].map((n) => n.stop()));
  }
}
