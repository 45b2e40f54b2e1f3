import { describeValue, InvalidUserIdError, LoadStatusConfigError } from './errors';

/** Longest accepted user id, in UTF-16 code units. */
export const MAX_USER_ID_LENGTH = 1024;
/** Longest TTL a timer (and Redis PX) accepts: 2^31-1 ms, about 24.8 days. */
export const MAX_TTL_MS = 2_147_483_647;

/** Validates and normalises a user id: non-empty strings as they are, finite numbers stringified. */
export function normalizeUserId(value: unknown): string {
  let id: string;
  if (typeof value === 'string') {
    id = value;
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidUserIdError(value, 'numbers must be finite');
    id = String(value);
  } else {
    throw new InvalidUserIdError(
      value,
      `expected a string or number, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`,
    );
  }
  if (id.length === 0) throw new InvalidUserIdError(value, 'it is empty');
  if (id.trim().length === 0) throw new InvalidUserIdError(value, 'it is only whitespace');
  if (id.length > MAX_USER_ID_LENGTH) {
    throw new InvalidUserIdError(
      value,
      `it is ${id.length} characters long (max ${MAX_USER_ID_LENGTH})`,
    );
  }
  if (!id.isWellFormed())
    throw new InvalidUserIdError(value, 'it contains a lone UTF-16 surrogate');
  return id;
}

/** Longest accepted load name, in UTF-16 code units. */
export const MAX_LOAD_NAME_LENGTH = 256;

/**
 * Checks a load's name: a non-empty, well-formed string of at most {@link MAX_LOAD_NAME_LENGTH}
 * characters that is not only whitespace. `option` is what the error names.
 */
export function checkLoadName(option: string, value: unknown): string {
  if (
    typeof value !== 'string' ||
    value.trim().length === 0 ||
    value.length > MAX_LOAD_NAME_LENGTH ||
    !value.isWellFormed()
  ) {
    throw new LoadStatusConfigError(
      option,
      `expected a load name: a string of 1 to ${MAX_LOAD_NAME_LENGTH} characters, not only whitespace, got ${describeValue(value)}`,
    );
  }
  return value;
}

/**
 * Checks a duration in ms: a whole number in [min, MAX_TTL_MS]. `name` is the option or argument
 * named in the error.
 */
export function checkDurationMs(name: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > MAX_TTL_MS) {
    throw new LoadStatusConfigError(
      name,
      `expected a whole number of milliseconds from ${min} to ${MAX_TTL_MS}, got ${describeValue(value)}`,
    );
  }
  return value;
}

/** The `name` of a call that acts on one load (undefined: the unnamed load). */
export interface LoadNameOption {
  /**
   * The load: one kind of data (say `'servers'`). Flags, locks, waits and near-cache entries are
   * per (name, key), so two kinds of data of one key never answer for each other; calls that
   * fill or read the same data give the same name.
   * @default the unnamed load (shared by every call that gives no name)
   */
  name?: string;
}

/** A call given no options: one shared object, not one per call. */
const NO_CALL_OPTIONS: LoadNameOption & { ttlMs?: number } = Object.freeze({});

/**
 * A call's options, where a number alone is the `ttlMs` it took before loads had names:
 * `setLoaded(key, 60_000)` and `setLoaded(key, { ttlMs: 60_000, name: 'servers' })`.
 */
export function callOptions(
  value: number | (LoadNameOption & { ttlMs?: number }) | undefined,
): LoadNameOption & { ttlMs?: number } {
  if (value === undefined) return NO_CALL_OPTIONS;
  // Anything else but an options object is a ttlMs, checked (and reported) as one.
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ttlMs: value as number };
  }
  return value;
}
