/**
 * `npm run test:mutation [-- <stryker options>]`: Stryker over src/, with one Redis Cluster and
 * one Sentinel group started here for the whole run. The store contract runs its Cluster and
 * Sentinel adapters against them (their addresses in LOAD_STATUS_MUTATION_TOPOLOGIES), so the
 * topology paths of the Redis store are mutated too; starting them per mutant, as a spec's
 * `beforeAll` would, costs seconds each time. Both are stopped when Stryker exits or is
 * interrupted.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { RedisClusterTopology, RedisSentinelTopology } from './redis-topologies';

/** What the store contract reads: the addresses a topology client is given. */
export interface MutationTopologies {
  cluster: Array<{ host: string; port: number }>;
  sentinels: Array<{ host: string; port: number }>;
}

async function main(): Promise<number> {
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const cluster = await RedisClusterTopology.start();
    started.push(cluster);
    const sentinel = await RedisSentinelTopology.start();
    started.push(sentinel);
    const topologies: MutationTopologies = {
      cluster: cluster.startupNodes,
      sentinels: sentinel.sentinelAddresses,
    };
    // Stryker's own script, not `npx stryker`: npx does not pass a signal on, so an interrupted
    // run left Stryker, its test runners and the topologies going.
    const bin = join(process.cwd(), 'node_modules', '.bin', 'stryker');
    const stryker = spawn(bin, ['run', ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, LOAD_STATUS_MUTATION_TOPOLOGIES: JSON.stringify(topologies) },
    });
    const forward = (signal: NodeJS.Signals) => () => stryker.kill(signal);
    process.on('SIGINT', forward('SIGINT')).on('SIGTERM', forward('SIGTERM'));
    return await new Promise<number>((resolve, reject) => {
      stryker.once('error', reject);
      stryker.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    await Promise.all(started.map((topology) => topology.stop()));
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
