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
const CALL_OPTIONS = CALL_RULES.map(([name]) => name);

/**
 * The settings of `ensureLoaded` calls under the module's options `module`: each option a call
 * gives, checked, else the module's. A call's `name` is not read here but with its key. A call
 * that gives no setting (the common case: none, or a name only) gets the module's settings, read
 * once: this runs on every call, a near-cache hit included.
 */
export function callSettingsFor(
  module: ResolvedLoadStatusOptions,
): (options: EnsureLoadedOptions) => FlightSettings {
  const modules = readCallOptions({}, module);
  return (options) => {
    if (typeof options !== 'object' || options === null) {
      throw new LoadStatusConfigError(
        'options',
        `expected an object, got ${describeValue(options)}`,
      );
    }
    const given = options as Readonly<Record<string, unknown>>;
    for (let i = 0; i < CALL_OPTIONS.length; i++) {
      if (given[CALL_OPTIONS[i]] !== undefined) return readCallOptions(given, module);
    }
    return modules;
  };
}

/** {@link callSettingsFor}, for one call. */
export function callSettings(
  options: EnsureLoadedOptions,
  module: ResolvedLoadStatusOptions,
): FlightSettings {
  return callSettingsFor(module)(options);
}

function readCallOptions(
  given: Readonly<Record<string, unknown>>,
  module: ResolvedLoadStatusOptions,
): FlightSettings {
  // Module-only settings a flight needs too.
  const read: Record<string, unknown> = { outageGraceMs: module.outageGraceMs };
  for (const [name, rule] of CALL_RULES) {
    read[name] = readOption(rule, name, given[name], module[name], read);
  }
  return Object.freeze(read) as unknown as FlightSettings;
}
