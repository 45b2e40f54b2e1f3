/** `createLoadStatus()` as a unit of the public surface: options, logger, decorators, close. */
import {
  createLoadStatus,
  LoadStatusConfigError,
  LoadStatusShutdownError,
  WithLoadLock,
  type LoadStatusLogger,
} from '../../src';
import { ONE_PROCESS_WARNING } from '../../src/load-status.core';
import { redisUrl, uniquePrefix } from '../support/env';

function collecting(): LoadStatusLogger & { lines: string[] } {
  const lines: string[] = [];
  const add = (level: string) => (message: string) => void lines.push(`${level} ${message}`);
  return { lines, debug: add('debug'), log: add('log'), warn: add('warn'), error: add('error') };
}

class Reports {
  runs = 0;
  @WithLoadLock({ name: 'reports' })
  async build(_tenant: string): Promise<void> {
    this.runs++;
    return Promise.resolve();
  }
}

describe('createLoadStatus()', () => {
  it('logs through the logger it is given: the one-process warning, once', async () => {
    const logger = collecting();
    const loadStatus = await createLoadStatus({ logger });
    try {
      expect(logger.lines.filter((l) => l.startsWith('warn'))).toEqual([
        `warn ${ONE_PROCESS_WARNING}`,
      ]);
    } finally {
      await loadStatus.close();
    }
  });

  it('runs the flow on Redis, serves decorated methods, and closes once however often asked', async () => {
    const logger = collecting();
    const loadStatus = await createLoadStatus({
      redis: redisUrl(),
      store: 'redis',
      keyPrefix: uniquePrefix('standalone'),
      logger,
    });
    const reports = new Reports();
    try {
      await Promise.all([reports.build('acme'), reports.build('acme'), reports.build('acme')]);
      expect(reports.runs).toBe(1);
      expect(await loadStatus.status.isLoaded('acme', { name: 'reports' })).toBe(true);
      await expect(
        loadStatus.locks.ensureLoaded('acme', () => Promise.resolve(1), { name: 'reports' }),
      ).resolves.toEqual({ status: 'already-loaded' });
    } finally {
      await Promise.all([loadStatus.close(), loadStatus.close()]);
    }
    await expect(loadStatus.status.isLoaded('acme')).rejects.toThrow(LoadStatusShutdownError);
    expect(logger.lines.filter((l) => l.startsWith('warn'))).toEqual([]);
  });

  it.each<[string, unknown, RegExp]>([
    ['options that are not an object', 'redis://x', /"options": expected an object/],
    ['an unknown option', { lockTTL: 5 }, /"lockTTL": unknown option/],
    [
      'cache: true, which needs a Nest app',
      { cache: true },
      /"cache": true means the Nest app's CACHE_MANAGER/,
    ],
    ["store: 'redis' without redis", { store: 'redis' }, /"store": 'redis' needs the redis option/],
    [
      'a logger of null',
      { logger: null },
      /"logger": expected an object with debug, log, warn and error methods/,
    ],
    [
      'a logger without debug',
      { logger: { log() {}, warn() {}, error() {} } },
      /"logger": .* without debug/,
    ],
    [
      'isGlobal, which only a Nest module has',
      { isGlobal: true },
      /"isGlobal": an option of the Nest module/,
    ],
  ])('rejects %s with LoadStatusConfigError', async (_label, options, message) => {
    const attempt = createLoadStatus(options as never);
    await expect(attempt).rejects.toThrow(LoadStatusConfigError);
    await expect(createLoadStatus(options as never)).rejects.toThrow(message);
  });
});
