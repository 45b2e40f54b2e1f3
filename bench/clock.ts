import { now, sleep } from '../test/support/clock';

export { now, sleep };

/**
 * Waits until the wall clock reaches `at` with a timer (Node timers fire up to ~1 ms late). No
 * busy-spin: four workers spinning at once on a 2-core machine would starve each other and Redis.
 */
export async function until(at: number): Promise<void> {
  const left = at - now();
  if (left > 0) await sleep(left);
}
