/**
 * The multi-process harness for Jest specs: everything of ./cluster.ts (which has no Jest
 * dependency, so bench/ scripts can use it too), plus `workerPool()`, which registers an
 * `afterEach` that stops every worker of the test and fails the test if one did not shut down
 * cleanly or reported an unhandled rejection / uncaught exception.
 */
import { Redis } from 'ioredis';
import { redisUrl } from '../support/env';
import { WorkerPool } from './cluster';

export * from './cluster';

/**
 * A pool whose workers are closed after each test, pass or fail. The hook fails the test if a
 * worker asked to close did not exit cleanly by itself (e.g. an open handle after `app.close()`),
 * or if any worker of the test reported an unhandled rejection or uncaught exception.
 */
export function workerPool(): WorkerPool {
  const pool = new WorkerPool();
  afterEach(async () => {
    const exits = await pool.closeAll();
    const processErrors = pool.processErrors();
    pool.reset();
    const problems: string[] = [];
    const unclean = exits.filter((e) => e.closeRequested && !e.clean);
    if (unclean.length > 0)
      problems.push(
        `workers did not shut down cleanly after app.close(): ${unclean
          .map((e) => `${e.worker} (code ${e.code}, signal ${e.signal})\n${e.output.slice(-2000)}`)
          .join('\n')}`,
      );
    if (processErrors.length > 0)
      problems.push(
        `workers reported unhandled errors:\n${processErrors
          .map((e) => `${e.worker} (pid ${e.pid}) ${e.kind}: ${e.message}`)
          .join('\n')}`,
      );
    if (problems.length > 0) throw new Error(problems.join('\n'));
  });
  return pool;
}

/**
 * A connection for inspecting the run's Redis from one describe block, closed after it. It
 * connects on its first command.
 */
export function suiteInspector(): Redis {
  const redis = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  afterAll(async () => {
    if (redis.status === 'wait') redis.disconnect();
    else await redis.quit();
  });
  return redis;
}
