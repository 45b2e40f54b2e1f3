/**
 * The module's options (`LoadStatusModule.forRoot()`, `forRootAsync()`'s factory,
 * `createLoadStatus()`): every row of the options table that the module takes, read once at
 * boot into {@link ResolvedLoadStatusOptions}.
 */
import { describeValue, LoadStatusConfigError } from '../errors';
import type { LoadStatusModuleOptions, ResolvedLoadStatusOptions } from '../load-status.options';
import { unknownOption } from './checks';
import { readOption, rulesOn } from './table';

const MODULE_RULES = rulesOn('module');
const KNOWN_OPTIONS = MODULE_RULES.map(([name]) => name);

/** Merges defaults and validates once, at module creation. */
export function resolveOptions(
  options: LoadStatusModuleOptions | undefined | null,
): ResolvedLoadStatusOptions {
  const given = (options ?? {}) as Readonly<Record<string, unknown>>;
  if (typeof given !== 'object' || Array.isArray(given)) {
    throw new LoadStatusConfigError('options', `expected an object, got ${describeValue(given)}`);
  }
  for (const key of Object.keys(given)) {
    if (key === 'isGlobal') {
      // forRoot() takes it off the options before they reach here: it came from a factory.
      throw new LoadStatusConfigError(
        'isGlobal',
        'a forRootAsync() factory returned it, where it cannot take effect (the module is registered before the factory runs); pass it to forRootAsync({ isGlobal, useFactory }) itself',
      );
    }
    if (!(KNOWN_OPTIONS as string[]).includes(key)) throw unknownOption(key, KNOWN_OPTIONS);
  }
  const read: Record<string, unknown> = {};
  for (const [name, rule] of MODULE_RULES) {
    const yieldsTo = rule.yieldsTo;
    read[name] =
      yieldsTo !== undefined && given[yieldsTo.option] !== undefined
        ? yieldsTo.value
        : readOption(rule, name, given[name], rule.default, read);
  }
  const { store, ...resolved } = read;
  // The store was chosen (`store`, or `redis` given): no boot warning about one process.
  return { ...resolved, storeChosen: store !== undefined } as unknown as ResolvedLoadStatusOptions;
}
