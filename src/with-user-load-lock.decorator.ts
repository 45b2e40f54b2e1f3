import { LoadStatusConfigError } from './errors';
import { loadLockServices, type LoadLocks } from './load-locks';
import type { EnsureLoadedOptions } from './options/call-options';
import { checkDecoratorOptions } from './options/decorator-options';
import { CLAIM_DEFAULT_NAME } from './internal';
import { checkDurationMs } from './validation';

/** Options every load-lock decorator takes ({@link WithLoadLock}, {@link WithUserLoadLock}). */
export interface LoadLockDecoratorOptions extends Omit<EnsureLoadedOptions, 'loadedTtlMs'> {
  /**
   * The load the method fills: one kind of data. Two methods share flags, locks and waits only
   * when they give the same name, so give one name to methods that fill the same data.
   * @default `<Class>.<method>`, the method's own load (give a name if your build renames
   * classes, or the name would change with it)
   */
  name?: string;
  /**
   * How long a load keeps the key loaded: ms, or a function of the method's arguments that
   * returns them (called per call; a bad value rejects the call with `LoadStatusConfigError` and
   * nothing runs). Inside the loader, `ctx.setLoadedTtl()` is not available to a decorated
   * method; return-value-based TTLs need `ensureLoaded`.
   * @default the module's `loadedTtlMs`
   */
  loadedTtlMs?: number | ((...args: any[]) => number);
  /**
   * Which `LoadStatusModule` registration to use, by its `keyPrefix`. Needed only when several
   * registrations with different prefixes are live in the process (one per kind of data).
   * @default the only live registration
   */
  keyPrefix?: string;
}

/** Options of {@link WithLoadLock}. */
export interface WithLoadLockOptions extends LoadLockDecoratorOptions {
  /**
   * Where the key comes from: the index of an argument, or a function of the arguments.
   * @default 0 (the first argument)
   */
  key?: number | ((...args: any[]) => unknown);
}

/** Options of {@link WithUserLoadLock}. */
export interface WithUserLoadLockOptions extends LoadLockDecoratorOptions {
  /**
   * Where the user id (the key) comes from: the index of an argument, or a function of the
   * arguments.
   * @default 0 (the first argument)
   */
  userId?: number | ((...args: any[]) => unknown);
}

/**
 * What a load-lock decorator accepts: a method resolving to a type that admits `undefined` (or
 * `void`), since a call that found the key loaded, or waited for another process, resolves to
 * `undefined`. A method typed `Promise<Data>` is a type error naming the fix.
 */
export type LoadLockMethodDecorator = <M extends (...args: any[]) => Promise<unknown>>(
  target: object,
  propertyKey: string | symbol,
  descriptor: TypedPropertyDescriptor<M> & ResolvesToUndefinedToo<M>,
) => void;

/** `unknown` (no constraint) when the method's result admits `undefined`, else an error type. */
export type ResolvesToUndefinedToo<M extends (...args: any[]) => Promise<unknown>> =
  undefined extends Awaited<ReturnType<M>>
    ? unknown
    : {
        'a load-lock method must resolve to T | undefined (or void): a call that found the key loaded, or waited for another process, resolves to undefined': never;
      };

/**
 * Makes the decorated method the loader of a load-once flow: across every process sharing the
 * store it runs once per key per `loadedTtlMs`. The call that ran it resolves to its value (so do
 * concurrent calls in the same process that shared that run); a call that found the key loaded,
 * or waited for another process, resolves to `undefined` — decorate methods that fill a cache,
 * and read the data from that cache. The method's type must admit that `undefined`.
 *
 * Each method is its own load (`<Class>.<method>`) unless `name` says otherwise. Works on
 * providers and controllers, on instances made by Nest or by hand: the `LoadLockService` is
 * looked up at call time. Without an initialised `LoadStatusModule` the call rejects with
 * `LoadStatusModuleMissingError`; it never runs unlocked. With several live registrations of
 * different `keyPrefix`es, name one with the `keyPrefix` option (the call rejects with
 * `LoadStatusConfigError` rather than guess).
 */
export function WithLoadLock(options: WithLoadLockOptions = {}): LoadLockMethodDecorator {
  const { key, ...rest } = checkDecoratorOptions('@WithLoadLock', 'key', options);
  return loadLockDecorator('@WithLoadLock', key, rest);
}

/**
 * {@link WithLoadLock} under its first name, keyed by a user id: the same decorator, whose
 * `userId` option picks the key.
 */
export function WithUserLoadLock(options: WithUserLoadLockOptions = {}): LoadLockMethodDecorator {
  const { userId, ...rest } = checkDecoratorOptions('@WithUserLoadLock', 'userId', options);
  return loadLockDecorator('@WithUserLoadLock', userId, rest);
}

/** A decorator whose options were checked; `keyOption` is where the key comes from. */
function loadLockDecorator(
  decorator: string,
  keyOption: WithLoadLockOptions['key'],
  options: LoadLockDecoratorOptions,
): LoadLockMethodDecorator {
  const { keyPrefix, loadedTtlMs, name: explicitName, ...flightOptions } = options;
  const keyOf = keyOption ?? 0;
  return (target, propertyKey, descriptor) => {
    const original: unknown = descriptor.value;
    const owner = typeof target === 'function' ? target : target.constructor;
    const methodName = `${(owner as { name?: string } | undefined)?.name || 'anonymous'}.${String(propertyKey)}`;
    if (typeof original !== 'function') {
      throw new LoadStatusConfigError(decorator, `${methodName} is not a method`);
    }
    // Built once: the hot path (a loaded key) then allocates no options per call.
    const callOptions = { ...flightOptions, name: explicitName ?? methodName };
    const claim =
      explicitName === undefined
        ? (service: LoadLocks) => service[CLAIM_DEFAULT_NAME](methodName, owner, decorator)
        : undefined;
    const wrapped = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const service = loadLockServices.resolve(methodName, keyPrefix);
      claim?.(service);
      const key = typeof keyOf === 'number' ? args[keyOf] : (keyOf as KeyFunction)(...args);
      const ttl =
        typeof loadedTtlMs === 'function'
          ? checkDurationMs(`${decorator}({ loadedTtlMs }) (its function)`, loadedTtlMs(...args))
          : loadedTtlMs;
      const outcome = await service.ensureLoaded(
        key as string,
        () => original.apply(this, args) as unknown,
        ttl === undefined ? callOptions : { ...callOptions, loadedTtlMs: ttl },
      );
      return outcome.status === 'loaded' ? outcome.value : undefined;
    };
    // Keep the method's identity for Nest and other decorators: name, and metadata set by
    // decorators applied before this one (those applied after see the wrapper directly).
    Object.defineProperty(wrapped, 'name', { value: original.name, configurable: true });
    // Outside Nest `reflect-metadata` may not be loaded: then there is no metadata to keep.
    if (typeof Reflect.getOwnMetadataKeys === 'function') {
      for (const metadataKey of Reflect.getOwnMetadataKeys(original)) {
        Reflect.defineMetadata(metadataKey, Reflect.getOwnMetadata(metadataKey, original), wrapped);
      }
    }
    descriptor.value = wrapped as typeof descriptor.value;
  };
}

type KeyFunction = (...args: unknown[]) => unknown;
