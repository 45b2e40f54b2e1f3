/**
 * The options table: every option, once, with its default, its check, and the surfaces that take
 * it — the module (`LoadStatusModule.forRoot()`, `createLoadStatus()`), a call (`ensureLoaded`),
 * the load-lock decorators (`@WithLoadLock()`, `@WithUserLoadLock()`). The module's resolution
 * (`./module-options.ts`), a call's settings (`./call-options.ts`) and the decorators' check
 * (`./decorator-options.ts`) all read it, so a new option is a new row here (and a field in the
 * documented interfaces that `test/types/options.types.ts` holds to this table).
 *
 * Rows are read in table order, which is also the order of "known options are …" in errors.
 */
import { checkRedisSource } from '../redis-source';
import type {
  OnStoreError,
  OnWaitTimeout,
  ResolvedLoadStatusOptions,
  StoreChoice,
} from '../load-status.options';
import { checkLoadName, checkDurationMs } from '../validation';
import {
  checkCache,
  checkKeyPrefix,
  checkNearCache,
  checkRegistrationPrefix,
  checkWaitForReplicas,
  durationMs,
  NEAR_CACHE_ON,
  oneOfThese,
  refreshBelowLoadedTtl,
  replicasWithinCommandTimeout,
  storeMatchingRedis,
  type Check,
} from './checks';

export {
  DEFAULT_NEAR_CACHE_MAX_AGE_MS,
  DEFAULT_NEAR_CACHE_MAX_ENTRIES,
  DEFAULT_WAIT_FOR_REPLICAS_TIMEOUT_MS,
} from './checks';

export const DEFAULT_KEY_PREFIX = 'load-status';
export const DEFAULT_LOADED_TTL_MS = 3_600_000;
export const DEFAULT_LOCK_TTL_MS = 3_000;
export const DEFAULT_WAIT_TIMEOUT_MS = 15_000;
export const DEFAULT_POLL_INTERVAL_MS = 100;
export const DEFAULT_ON_WAIT_TIMEOUT: OnWaitTimeout = 'throw';
export const DEFAULT_ON_STORE_ERROR: OnStoreError = 'fail-open';
export const DEFAULT_COMMAND_TIMEOUT_MS = 1_000;
export const DEFAULT_OUTAGE_GRACE_MS = 5_000;
/** Shortest lease: extensions run every third of it, and must outpace a Redis round trip. */
export const MIN_LOCK_TTL_MS = 30;

/** Where an option is given: the module's options, a call's options, a decorator's options. */
export type Surface = 'module' | 'call' | 'decorator';

/** The options a resolution has read so far (those above in the table), module or call. */
export type ReadSoFar = Readonly<Partial<ResolvedLoadStatusOptions>>;

/** One row of the table. */
export interface OptionRule<T> {
  /**
   * The value when the module's options leave it out (per call and in a decorator, leaving it
   * out means the module's value).
   */
  readonly default: T;
  /** Checks a given value (never `undefined`: that is "absent"). */
  readonly check: Check<T>;
  /** The decorators check it so instead (they take a different kind of value). */
  readonly decoratorCheck?: Check<unknown>;
  /**
   * A rule against options above it, applied on the module and per call to the value read
   * (`given`: the caller gave it; else it is the default, or per call the module's value).
   */
  readonly relate?: (name: string, value: T, read: ReadSoFar, given: boolean) => T;
  /** On the module: while `option` is given, this one is not read and is `value`. */
  readonly yieldsTo?: { readonly option: string; readonly value: T };
}

function option<T, const S extends readonly Surface[]>(
  surfaces: S,
  rule: OptionRule<T>,
): OptionRule<T> & { readonly surfaces: S } {
  return { ...rule, surfaces };
}

const EVERYWHERE = ['module', 'call', 'decorator'] as const;

export const OPTIONS = {
  // Per call, `name` is read with the key (`LoadStatusCore.user`), not with a call's settings.
  name: option(['decorator'], { default: undefined as string | undefined, check: checkLoadName }),
  redis: option(['module'], {
    default: undefined,
    check: (_name, value) => checkRedisSource(value),
  }),
  keyPrefix: option(['module', 'decorator'], {
    default: DEFAULT_KEY_PREFIX,
    check: checkKeyPrefix,
    // A decorator's keyPrefix picks one of the live registrations by its prefix.
    decoratorCheck: checkRegistrationPrefix,
  }),
  loadedTtlMs: option(EVERYWHERE, {
    default: DEFAULT_LOADED_TTL_MS,
    check: durationMs(),
    // A decorator may give a function of the method's arguments, checked per call.
    decoratorCheck: (name, value) =>
      typeof value === 'function' ? value : checkDurationMs(name, value),
  }),
  lockTtlMs: option(EVERYWHERE, {
    default: DEFAULT_LOCK_TTL_MS,
    check: durationMs(MIN_LOCK_TTL_MS),
  }),
  waitTimeoutMs: option(EVERYWHERE, { default: DEFAULT_WAIT_TIMEOUT_MS, check: durationMs(0) }),
  pollIntervalMs: option(['module'], { default: DEFAULT_POLL_INTERVAL_MS, check: durationMs() }),
  onWaitTimeout: option(EVERYWHERE, {
    default: DEFAULT_ON_WAIT_TIMEOUT,
    check: oneOfThese<OnWaitTimeout>('throw', 'run'),
  }),
  onStoreError: option(['module'], {
    default: DEFAULT_ON_STORE_ERROR,
    check: oneOfThese<OnStoreError>('fail-open', 'fail-closed'),
  }),
  commandTimeoutMs: option(['module'], {
    default: DEFAULT_COMMAND_TIMEOUT_MS,
    check: durationMs(),
  }),
  outageGraceMs: option(['module'], { default: DEFAULT_OUTAGE_GRACE_MS, check: durationMs(0) }),
  refreshAheadMs: option(EVERYWHERE, {
    default: 0,
    check: durationMs(0),
    relate: (name, ms, read, given) => {
      const loadedTtlMs = read.loadedTtlMs!;
      if (given) return refreshBelowLoadedTtl(name, ms, loadedTtlMs);
      // The module's, under a call's loadedTtlMs it does not fit: no refresh-ahead for the call.
      return ms < loadedTtlMs ? ms : 0;
    },
  }),
  waitForReplicas: option(['module'], {
    default: undefined,
    check: checkWaitForReplicas,
    relate: (name, value, read) =>
      replicasWithinCommandTimeout(name, value, read.commandTimeoutMs!),
  }),
  nearCache: option(['module'], {
    default: NEAR_CACHE_ON,
    check: checkNearCache,
    // The flag cache can change behind the near-cache's back.
    yieldsTo: { option: 'cache', value: false },
  }),
  cache: option(['module'], { default: undefined, check: checkCache }),
  store: option(['module'], {
    default: undefined as StoreChoice | undefined,
    check: oneOfThese<StoreChoice>('redis', 'memory'),
    relate: (name, choice, read) => storeMatchingRedis(name, choice, read.redis),
  }),
};

type Options = typeof OPTIONS;
export type OptionName = keyof Options;
/** The options a surface takes. */
export type OptionOn<S extends Surface> = {
  [K in OptionName]: S extends Options[K]['surfaces'][number] ? K : never;
}[OptionName];
/** The type of an option's value once read (its default included). */
export type OptionValue<K extends OptionName> = Options[K]['default'];

/** The rows a surface takes, in table order. */
export function rulesOn<S extends Surface>(
  surface: S,
): ReadonlyArray<readonly [OptionOn<S>, OptionRule<unknown>]> {
  return (Object.entries(OPTIONS) as [OptionName, OptionRule<unknown> & Options[OptionName]][])
    .filter(([, rule]) => (rule.surfaces as readonly Surface[]).includes(surface))
    .map(([name, rule]) => [name as OptionOn<S>, rule] as const);
}

/**
 * One option read: `given` checked (or, absent, `absent`: the default, or per call the module's
 * value), then held to the options read before it.
 */
export function readOption<T>(
  rule: OptionRule<T>,
  name: string,
  given: unknown,
  absent: T,
  read: ReadSoFar,
): T {
  const value = given === undefined ? absent : rule.check(name, given);
  return rule.relate === undefined ? value : rule.relate(name, value, read, given !== undefined);
}
