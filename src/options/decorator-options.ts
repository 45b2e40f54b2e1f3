/**
 * The load-lock decorators' options that come from the options table (the decorators add where
 * the key comes from): checked once, when the decorator is applied, and named in errors as the
 * decorator's (`@WithLoadLock({ lockTtlMs })`).
 */
import { unknownOption } from './checks';
import { rulesOn } from './table';

const DECORATOR_RULES = rulesOn('decorator');

/** The options of the table that every load-lock decorator takes, in table order. */
export const DECORATOR_OPTIONS: readonly string[] = DECORATOR_RULES.map(([name]) => name);

/** Refuses an option outside `known`; `nameOf` gives the name an error shows. */
export function refuseUnknownOptions(
  options: object,
  known: readonly string[],
  nameOf: (option: string) => string,
): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw unknownOption(nameOf(key), known);
  }
}

/** Checks each table option given; `nameOf` gives the name an error shows. */
export function checkDecoratorOptions(options: object, nameOf: (option: string) => string): void {
  const given = options as Readonly<Record<string, unknown>>;
  for (const [name, rule] of DECORATOR_RULES) {
    const value = given[name];
    if (value !== undefined) (rule.decoratorCheck ?? rule.check)(nameOf(name), value);
  }
}
