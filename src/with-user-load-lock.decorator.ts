import { LoadStatusConfigError } from './errors';
import type { EnsureLoadedOptions } from './load-lock.service';
import { MIN_LOCK_TTL_MS, oneOf } from './load-status.options';
import { resolveLoadLockService } from './service-registry';
import { checkDurationMs, describeValue } from './validation';

/** Options of {@link WithUserLoadLock}. */
export interface WithUserLoadLockOptions extends Omit<EnsureLoadedOptions, 'loadedTtlMs'> {
  /**
   * How long a load keeps the user loaded: ms, or a function of the method's arguments that
   * returns them (called per call; a bad value rejects the call with `LoadStatusConfigError` and
   * nothing runs). Inside the loader, `ctx.setLoadedTtl()` is not available to a decorated
   * method; return-value-based TTLs need `ensureLoaded`.
   * @default the module's `loadedTtlMs`
   */
  loadedTtlMs?: number | ((...args: any[]) => number);
  /**
   * Where the user id comes from: the index of an argument, or a function of the arguments.
   * @default 0 (the first argument)
   */
  userId?: number | ((...args: any[]) => unknown);
  /**
   * Which `LoadStatusModule` registration to use, by its `keyPrefix`. Needed only when several
   * registrations with different prefixes are live in the process (one per kind of data).
   * @default the only live registration
   */
  keyPrefix?: string;
}

/**
 * Makes the decorated method the loader of a load-once flow: across every process sharing the
 * store it runs once per user per `loadedTtlMs`. The call that ran it resolves to its value (so do
 * concurrent calls in the same process that shared that run); a call that found the user loaded,
 * or waited for another process, resolves to `undefined` — decorate methods that fill a cache,
 * and read the data from that cache.
 *
 * Works on providers and controllers, on instances made by Nest or by hand: the
 * `LoadLockService` is looked up at call time. Without an initialised `LoadStatusModule` the
 * call rejects with `LoadStatusModuleMissingError`; it never runs unlocked. With several live
 * registrations of different `keyPrefix`es, name one with the `keyPrefix` option (the call
 * rejects with `LoadStatusConfigError` rather than guess).
 */
export function WithUserLoadLock(options: WithUserLoadLockOptions = {}): MethodDecorator {
  const {
    userId: userIdOption = 0,
    keyPrefix,
    loadedTtlMs,
    ...flightOptions
  } = validateDecoratorOptions(options);
  return (target, propertyKey, descriptor: PropertyDescriptor) => {
    const original: unknown = descriptor.value;
    const methodName = `${(target as { constructor?: { name?: string } }).constructor?.name ?? 'anonymous'}.${String(propertyKey)}`;
    if (typeof original !== 'function') {
      throw new LoadStatusConfigError('@WithUserLoadLock', `${methodName} is not a method`);
    }
    const wrapped = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const service = resolveLoadLockService(methodName, keyPrefix);
      const userId = typeof userIdOption === 'number' ? args[userIdOption] : userIdOption(...args);
      const ttl =
        typeof loadedTtlMs === 'function'
          ? checkDurationMs(
              '@WithUserLoadLock({ loadedTtlMs }) (its function)',
              loadedTtlMs(...args),
            )
          : loadedTtlMs;
      const outcome = await service.ensureLoaded(
        userId as string,
        () => original.apply(this, args) as unknown,
        ttl === undefined ? flightOptions : { ...flightOptions, loadedTtlMs: ttl },
      );
      return outcome.status === 'loaded' ? outcome.value : undefined;
    };
    // Keep the method's identity for Nest and other decorators: name, and metadata set by
    // decorators applied before this one (those applied after see the wrapper directly).
    Object.defineProperty(wrapped, 'name', { value: original.name, configurable: true });
    for (const key of Reflect.getOwnMetadataKeys(original)) {
      Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, original), wrapped);
    }
    descriptor.value = wrapped;
    return descriptor;
  };
}

function validateDecoratorOptions(options: WithUserLoadLockOptions): WithUserLoadLockOptions {
  const name = (option: string) => `@WithUserLoadLock({ ${option} })`;
  if (typeof options !== 'object' || options === null) {
    throw new LoadStatusConfigError(
      '@WithUserLoadLock',
      `expected an options object, got ${describeValue(options)}`,
    );
  }
  const known = [
    'userId',
    'keyPrefix',
    'loadedTtlMs',
    'lockTtlMs',
    'waitTimeoutMs',
    'onWaitTimeout',
    'refreshAheadMs',
  ];
  for (const key of Object.keys(options)) {
    if (!known.includes(key))
      throw new LoadStatusConfigError(
        name(key),
        `unknown option; known options are ${known.join(', ')}`,
      );
  }
  const { userId } = options;
  if (
    userId !== undefined &&
    typeof userId !== 'function' &&
    !(Number.isInteger(userId) && userId >= 0 && userId < 256)
  ) {
    throw new LoadStatusConfigError(
      name('userId'),
      `expected an argument index (0-255) or a function, got ${describeValue(userId)}`,
    );
  }
  if (
    options.keyPrefix !== undefined &&
    (typeof options.keyPrefix !== 'string' || options.keyPrefix.length === 0)
  ) {
    throw new LoadStatusConfigError(
      name('keyPrefix'),
      `expected a non-empty string, got ${describeValue(options.keyPrefix)}`,
    );
  }
  if (options.loadedTtlMs !== undefined && typeof options.loadedTtlMs !== 'function')
    checkDurationMs(name('loadedTtlMs'), options.loadedTtlMs);
  if (options.lockTtlMs !== undefined)
    checkDurationMs(name('lockTtlMs'), options.lockTtlMs, MIN_LOCK_TTL_MS);
  if (options.waitTimeoutMs !== undefined)
    checkDurationMs(name('waitTimeoutMs'), options.waitTimeoutMs, 0);
  if (options.refreshAheadMs !== undefined)
    checkDurationMs(name('refreshAheadMs'), options.refreshAheadMs, 0);
  if (options.onWaitTimeout !== undefined)
    oneOf(name('onWaitTimeout'), options.onWaitTimeout, ['throw', 'run']);
  return options;
}
