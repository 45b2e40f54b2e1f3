/**
 * CPU placement of this process and the redis-server for the single-process scenarios (1, 2).
 *
 * On this 2-vCPU VM a loopback round trip costs ~12 µs when the client and redis-server run on
 * the same vCPU and ~85-170 µs when they run on different ones, and the Linux scheduler flips
 * between the two every second or so: unpinned, repeats of one row differed by up to 7x. So rows
 * that make round trips are measured pinned with `taskset -a`: "cross-core" (bench on CPU 1,
 * Redis on CPU 0: every round trip crosses cores, the way it crosses a network in production)
 * and "same-core" (both on CPU 0: the loopback best case for Redis, and for the alternatives'
 * ratios). Multi-process scenarios run unpinned. Without taskset or with one CPU, nothing is
 * pinned and the tables say so. Several redis-servers (a Cluster's nodes next to a standalone
 * server) are pinned together: every one of them to CPU 0.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';

export type Placement = 'cross-core' | 'same-core';
export const PLACEMENTS: readonly Placement[] = ['cross-core', 'same-core'];

function taskset(pid: number, cpuList: string): boolean {
  const r = spawnSync('taskset', ['-a', '-p', '-c', cpuList, String(pid)], { stdio: 'ignore' });
  return r.status === 0;
}

export class Pinning {
  readonly available: boolean;
  private readonly all: string;
  private readonly redisPids: readonly number[];

  /** @param redis the redis-server's pid, or the pids of every redis-server to pin together */
  constructor(redis: number | readonly (number | undefined)[] | undefined) {
    const n = cpus().length;
    this.all = `0-${n - 1}`;
    const pids = typeof redis === 'number' ? [redis] : (redis ?? []);
    this.redisPids = pids.filter((pid): pid is number => pid !== undefined);
    this.available =
      n >= 2 &&
      this.redisPids.length === pids.length &&
      this.redisPids.length > 0 &&
      spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
  }

  /** Pins this process and Redis; false (and nothing pinned) when pinning is unavailable. */
  place(placement: Placement): boolean {
    if (!this.available) return false;
    const redisCpu = '0';
    const benchCpu = placement === 'cross-core' ? '1' : '0';
    return this.redisPids.every((pid) => taskset(pid, redisCpu)) && taskset(process.pid, benchCpu);
  }

  /** Back to every CPU (before forking workers: children inherit the affinity). */
  release(): void {
    if (!this.available) return;
    for (const pid of this.redisPids) taskset(pid, this.all);
    taskset(process.pid, this.all);
  }
}
