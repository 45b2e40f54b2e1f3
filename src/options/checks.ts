/**
 * What one option's value must be: the checks the options table (`./table.ts`) names, and the
 * rules that relate an option to one read before it. Each takes the name the error gives (an
 * option, `nearCache.maxAgeMs`, or a decorator's `@WithLoadLock({ lockTtlMs })`) and the value,
 * and returns the value as the flow uses it or throws `LoadStatusConfigError`.
 */
import { describeValue, LoadStatusConfigError } from '../errors';
import { isFlagCache, type FlagCache } from '../stores/cache-flag-load-store';
import type { NearCacheOptions, StoreChoice, WaitForReplicasOptions } from '../load-status.options';
import { checkDurationMs } from '../validation';

/** A check of one value; `name` is what its error names. */
export type Check<T> = (name: string, value: unknown) => T;

export const DEFAULT_NEAR_CACHE_MAX_ENTRIES = 10_000;
export const DEFAULT_NEAR_CACHE_MAX_AGE_MS = 10_000;
export const DEFAULT_WAIT_FOR_REPLICAS_TIMEOUT_MS = 100;

/** A whole number of ms from `min` to 2^31-1. */
export function durationMs(min = 1): Check<number> {
  return (name, value) => checkDurationMs(name, value, min);
}

export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new LoadStatusConfigError(
      name,
      `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describeValue(value)}`,
    );
  }
  return value as T;
}

/** {@link oneOf} as a table check. */
export function oneOfThese<T extends string>(...allowed: T[]): Check<T> {
  return (name, value) => oneOf(name, value, allowed);
}

export function checkKeyPrefix(name: string, value: unknown): string {
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > 256 ||
    // Braces would move the Cluster hash tag; glob characters would widen the ACL key and
    // channel patterns (`~<prefix>:*`) and the SCAN of reset(); whitespace and control
    // characters have no place in a key name.
    // eslint-disable-next-line no-control-regex
    /[{}\s*?[\]\\\x00-\x1f\x7f]/.test(value)
  ) {
    throw new LoadStatusConfigError(
      name,
      `expected 1 to 256 characters without braces, whitespace, control or glob characters (* ? [ ] \\), got ${describeValue(value)}`,
    );
  }
  return value;
}

/** The decorators' `keyPrefix`: it only picks a live registration, so any non-empty string. */
export function checkRegistrationPrefix(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new LoadStatusConfigError(
      name,
      `expected a non-empty string, got ${describeValue(value)}`,
    );
  }
  return value;
}

export const NEAR_CACHE_ON: Required<NearCacheOptions> = Object.freeze({
  maxEntries: DEFAULT_NEAR_CACHE_MAX_ENTRIES,
  maxAgeMs: DEFAULT_NEAR_CACHE_MAX_AGE_MS,
});

export function checkNearCache(name: string, value: unknown): Required<NearCacheOptions> | false {
  if (value === false) return false;
  if (value === true) return NEAR_CACHE_ON;
  const { maxEntries = DEFAULT_NEAR_CACHE_MAX_ENTRIES, maxAgeMs = DEFAULT_NEAR_CACHE_MAX_AGE_MS } =
    subOptions<NearCacheOptions>(name, value, 'a boolean or { maxEntries, maxAgeMs }', [
      'maxEntries',
      'maxAgeMs',
    ]);
  return {
    maxEntries: countUpTo(`${name}.maxEntries`, maxEntries, 10_000_000),
    maxAgeMs: checkDurationMs(`${name}.maxAgeMs`, maxAgeMs),
  };
}

export function checkWaitForReplicas(
  name: string,
  value: unknown,
): Required<WaitForReplicasOptions> {
  const { replicas, timeoutMs = DEFAULT_WAIT_FOR_REPLICAS_TIMEOUT_MS } =
    subOptions<WaitForReplicasOptions>(name, value, '{ replicas, timeoutMs? }', [
      'replicas',
      'timeoutMs',
    ]);
  return {
    replicas: countUpTo(`${name}.replicas`, replicas, 100),
    timeoutMs: checkDurationMs(`${name}.timeoutMs`, timeoutMs),
  };
}

/** A whole number from 1 to `max`. */
function countUpTo(name: string, value: unknown, max: number): number {
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max) {
    throw new LoadStatusConfigError(
      name,
      `expected a whole number from 1 to ${max}, got ${describeValue(value)}`,
    );
  }
  return value as number;
}

/** An option that is an object of its own options: refuses anything else, and unknown fields. */
function subOptions<T>(name: string, value: unknown, expected: string, known: string[]): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LoadStatusConfigError(name, `expected ${expected}, got ${describeValue(value)}`);
  }
  const unknown = Object.keys(value).find((key) => !known.includes(key));
  if (unknown !== undefined) throw unknownOption(`${name}.${unknown}`, known);
  return value as T;
}

/** The error for an option no surface of that name takes. */
export function unknownOption(name: string, known: readonly string[]): LoadStatusConfigError {
  return new LoadStatusConfigError(name, `unknown option; known options are ${known.join(', ')}`);
}

export function checkCache(name: string, value: unknown): true | FlagCache {
  if (value === true || isFlagCache(value)) return value;
  throw new LoadStatusConfigError(
    name,
    `expected true (the app's CACHE_MANAGER) or a cache-manager Cache with get, set, del and ttl, got ${describeValue(value)}`,
  );
}

/** `refreshAheadMs` must be below the `loadedTtlMs` it applies to, or every call would refresh. */
export function refreshBelowLoadedTtl(name: string, ms: number, loadedTtlMs: number): number {
  if (ms >= loadedTtlMs)
    throw new LoadStatusConfigError(
      name,
      `expected less than loadedTtlMs (${loadedTtlMs}), got ${ms}: every call would refresh`,
    );
  return ms;
}

/** A replica wait must end before the command that carries it times out. */
export function replicasWithinCommandTimeout(
  name: string,
  value: Required<WaitForReplicasOptions> | undefined,
  commandTimeoutMs: number,
): Required<WaitForReplicasOptions> | undefined {
  if (value !== undefined && value.timeoutMs >= commandTimeoutMs) {
    throw new LoadStatusConfigError(
      `${name}.timeoutMs`,
      `expected less than commandTimeoutMs (${commandTimeoutMs}), got ${value.timeoutMs}`,
    );
  }
  return value;
}

/** The store the options name: `store`, else `'redis'` when `redis` is given; else undefined. */
export function storeMatchingRedis(
  name: string,
  choice: StoreChoice | undefined,
  redis: unknown,
): StoreChoice | undefined {
  if (choice === undefined) return redis === undefined ? undefined : 'redis';
  if (choice === 'redis' && redis === undefined) {
    throw new LoadStatusConfigError(
      name,
      "'redis' needs the redis option, and it is missing (an unset REDIS_URL?); give redis a URL, options or a client, or choose store: 'memory' for one process",
    );
  }
  if (choice === 'memory' && redis !== undefined) {
    throw new LoadStatusConfigError(
      name,
      "'memory' keeps every flag and lock in this process, yet the redis option is given too; drop one of them",
    );
  }
  return choice;
}
