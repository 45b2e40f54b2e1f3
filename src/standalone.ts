/**
 * `nestjs-load-status/standalone`: the same flow, stores and guarantees without Nest. Nothing
 * here (or below it) loads an `@nestjs/*` package, so an Express app, a worker or a script that
 * has no Nest installed can use it; `rxjs` (the events stream) and a Redis client are its peers.
 */
import { LoadFlags } from './load-flags';
import { LoadLocks } from './load-locks';
import { LoadStatusCore } from './load-status.core';
import type { LoadStatusEvents } from './load-status.events';
import type { LoadStatusModuleOptions } from './load-status.options';
import { resolveOptions } from './options/module-options';
import { processWarningLogger, type LoadStatusLogger } from './logger';
import { describeValue, LoadStatusConfigError } from './errors';

/** Options of {@link createLoadStatus}: the module's options, and where to log. */
export interface CreateLoadStatusOptions extends LoadStatusModuleOptions {
  /**
   * Where it logs (a `console`, a pino or winston logger: anything with `debug`, `log`, `warn`
   * and `error` taking a string).
   * @default warnings and errors as process warnings (`LoadStatusWarning`), nothing else
   */
  logger?: LoadStatusLogger;
}

/** What {@link createLoadStatus} returns: the two services, their events, and the way out. */
export interface LoadStatusInstance {
  /** The loaded flags (what `LoadStatusService` is inside Nest). */
  readonly status: LoadFlags;
  /** The locks and the load-once flow (what `LoadLockService` is inside Nest). */
  readonly locks: LoadLocks;
  /** The events stream (what `LoadStatusEvents` is inside Nest). */
  readonly events: LoadStatusEvents;
  /**
   * Shuts down as a Nest app would: pending waits end with `LoadStatusShutdownError`, held locks
   * are released, running loaders are aborted, and the connections it created are closed
   * (borrowed clients stay open). Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Creates, connects and starts what `LoadStatusModule.forRoot(options)` provides, outside Nest.
 * Options are validated as the module validates them (a bad one rejects with
 * `LoadStatusConfigError`); `cache: true` has no app `CACHE_MANAGER` to use here, so pass the
 * cache itself. `@WithLoadLock()` and `@WithUserLoadLock()` find it once it is created, as they
 * find a Nest registration.
 *
 * ```ts
 * const loadStatus = await createLoadStatus({ redis: process.env.REDIS_URL, store: 'redis' });
 * await loadStatus.locks.ensureLoaded(userId, () => loadServers(userId), { name: 'servers' });
 * process.on('SIGTERM', () => void loadStatus.close());
 * ```
 */
export async function createLoadStatus(
  options: CreateLoadStatusOptions = {},
): Promise<LoadStatusInstance> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new LoadStatusConfigError('options', `expected an object, got ${describeValue(options)}`);
  }
  const { logger = processWarningLogger, ...moduleOptions } = options;
  checkLogger(logger);
  // Refused before anything connects: no module here to be global, no app CACHE_MANAGER.
  if ('isGlobal' in moduleOptions) {
    throw new LoadStatusConfigError(
      'isGlobal',
      'an option of the Nest module; createLoadStatus() registers none, so leave it out',
    );
  }
  if (moduleOptions.cache === true) {
    throw new LoadStatusConfigError(
      'cache',
      "true means the Nest app's CACHE_MANAGER, and there is none outside Nest; pass the cache-manager Cache itself",
    );
  }
  const core = await LoadStatusCore.create(resolveOptions(moduleOptions), undefined, logger);
  const status = new LoadFlags(core);
  const locks = new LoadLocks(core);
  locks.onModuleInit();
  let closed: Promise<void> | undefined;
  return {
    status,
    locks,
    events: core.events,
    close: () =>
      (closed ??= (async () => {
        try {
          await locks.beforeApplicationShutdown();
        } finally {
          // Whatever the first phase met, the connections this instance opened are closed.
          await locks.onApplicationShutdown();
        }
      })()),
  };
}

function checkLogger(logger: unknown): asserts logger is LoadStatusLogger {
  const methods = ['debug', 'log', 'warn', 'error'] as const;
  const missing =
    typeof logger === 'object' && logger !== null
      ? methods.filter((m) => typeof (logger as Record<string, unknown>)[m] !== 'function')
      : methods;
  if (missing.length > 0) {
    throw new LoadStatusConfigError(
      'logger',
      `expected an object with debug, log, warn and error methods (a console, pino or winston logger), got ${describeValue(logger)}${typeof logger === 'object' && logger !== null ? ` without ${missing.join(', ')}` : ''}`,
    );
  }
}

export * from './surface';
