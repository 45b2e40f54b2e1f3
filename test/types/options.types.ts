/**
 * Type tests of the options table (`src/options/table.ts`) against the documented option
 * interfaces, checked by `npm run typecheck` (tsc on this file; no test runner). The interfaces
 * stay hand-written for their documentation; these lines make a row without its field (or a
 * field without its row, or of another type) a type error here.
 *
 * Each `Holds<…>` must be `true`; each `@ts-expect-error` line asserts that the next line is a
 * type error, so that the checks above are seen to bite.
 */
import type {
  EnsureLoadedOptions,
  LoadLockDecoratorOptions,
  LoadNameOption,
  LoadStatusModuleOptions,
} from '../../src';
import type { FlightSettings } from '../../src/flight';
import type { ResolvedLoadStatusOptions } from '../../src/load-status.options';
import type { OptionOn, OptionValue } from '../../src/options/table';

/** True when A and B are the same type (not merely assignable either way). */
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Holds<T extends true> = T;
/** The keys K where A[K] and B[K] differ. */
type Differing<A, B, K extends keyof A & keyof B> = {
  [P in K]: Equal<A[P], B[P]> extends true ? never : P;
}[K];

type ModuleOption = OptionOn<'module'>;
type CallOption = OptionOn<'call'>;
type DecoratorOption = OptionOn<'decorator'>;
/** What the table reads each option as. */
type Read = { [K in OptionOn<'module' | 'call' | 'decorator'>]: OptionValue<K> };
/** The options of O whose value, read, is not something an app could have written in O. */
type NotWritable<O, K extends keyof O & keyof Read> = {
  [P in K]: Read[P] extends O[P] ? never : P;
}[K];

export type Checks = [
  // The module takes exactly the fields of LoadStatusModuleOptions.
  Holds<Equal<ModuleOption, keyof LoadStatusModuleOptions>>,
  // Read, they are ResolvedLoadStatusOptions (`store` becomes `storeChosen`).
  Holds<Equal<Exclude<ModuleOption, 'store'> | 'storeChosen', keyof ResolvedLoadStatusOptions>>,
  Holds<Equal<Differing<Read, ResolvedLoadStatusOptions, Exclude<ModuleOption, 'store'>>, never>>,
  // What the table reads an option as is something an app could have written.
  Holds<Equal<NotWritable<LoadStatusModuleOptions, ModuleOption>, never>>,
  // A call takes the fields of EnsureLoadedOptions but its name (read with the key)...
  Holds<Equal<CallOption, Exclude<keyof EnsureLoadedOptions, keyof LoadNameOption>>>,
  Holds<Equal<Differing<Read, Required<EnsureLoadedOptions>, CallOption>, never>>,
  // ...and reads them into a flight's settings, which also carry the module's outageGraceMs.
  Holds<Equal<CallOption | 'outageGraceMs', keyof FlightSettings>>,
  Holds<Equal<Differing<Read, FlightSettings, CallOption>, never>>,
  // The decorators take exactly the fields of LoadLockDecoratorOptions (and their key option).
  Holds<Equal<DecoratorOption, keyof LoadLockDecoratorOptions>>,
  // Those a decorator reads as a call does are typed as a call's.
  Holds<
    Equal<
      Differing<Required<LoadLockDecoratorOptions>, Required<EnsureLoadedOptions>, CallOption>,
      'loadedTtlMs'
    >
  >,
];

export type Bites = [
  // @ts-expect-error a module option the table has no row for
  Holds<Equal<ModuleOption, keyof (LoadStatusModuleOptions & { retries?: number })>>,
  // @ts-expect-error a row typed otherwise than its field
  Holds<Equal<Differing<Read, { lockTtlMs: string }, 'lockTtlMs'>, never>>,
  // @ts-expect-error a value read that an app could not have written
  Holds<Equal<NotWritable<{ keyPrefix?: number }, 'keyPrefix'>, never>>,
  // @ts-expect-error a call option the flight's settings do not carry
  Holds<Equal<CallOption | 'outageGraceMs' | 'retries', keyof FlightSettings>>,
];
