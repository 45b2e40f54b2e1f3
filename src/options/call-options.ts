/**
 * A call's options: what `ensureLoaded` and `acquireLoadLock` take, and the settings of one
 * flight read from the rows of the options table that a call takes, over the module's values.
 */
import { describeValue, LoadStatusConfigError } from '../errors';
import type { FlightSettings } from '../flight';
import type { OnWaitTimeout, ResolvedLoadStatusOptions } from '../load-status.options';
import type { LoadNameOption } from '../validation';
import { readOption, rulesOn } from './table';

/** Per-call options of {@link LoadLocks.ensureLoaded}: the load's name, and overrides. */
export interface EnsureLoadedOptions extends LoadNameOption {
  /** @default the module's `loadedTtlMs` */
  loadedTtlMs?: number;
  /** @default the module's `lockTtlMs` */
  lockTtlMs?: number;
  /** @default the module's `waitTimeoutMs` */
  waitTimeoutMs?: number;
  /** @default the module's `onWaitTimeout` */
  onWaitTimeout?: OnWaitTimeout;
  /**
   * Refresh ahead when less than this is left of the flag (0: off); must be below the call's
   * `loadedTtlMs`. The module's value is used only where it is below the call's `loadedTtlMs`.
   * @default the module's `refreshAheadMs`
   */
  refreshAheadMs?: number;
}

/** Options of {@link LoadLocks.acquireLoadLock} (a number alone is `ttlMs`). */
export interface AcquireLoadLockOptions extends LoadNameOption {
  /** @default the module's `lockTtlMs` */
  ttlMs?: number;
}

const CALL_RULES = rulesOn('call');

/**
 * The settings of an `ensureLoaded` call: each option the call gives, checked, else the module's.
 * Its `name` is not read here but with its key.
 */
export function callSettings(
  options: EnsureLoadedOptions,
  module: ResolvedLoadStatusOptions,
): FlightSettings {
  if (typeof options !== 'object' || options === null) {
    throw new LoadStatusConfigError('options', `expected an object, got ${describeValue(options)}`);
  }
  const given = options as Readonly<Record<string, unknown>>;
  // Module-only settings a flight needs too.
  const read: Record<string, unknown> = { outageGraceMs: module.outageGraceMs };
  for (const [name, rule] of CALL_RULES) {
    read[name] = readOption(rule, name, given[name], module[name], read);
  }
  return read as unknown as FlightSettings;
}
