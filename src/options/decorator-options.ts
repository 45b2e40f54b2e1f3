/**
 * A load-lock decorator's options, checked once, when the decorator is applied: its key option
 * (`key` of `@WithLoadLock()`, `userId` of `@WithUserLoadLock()`: where the key comes from), and
 * the rows of the options table that the decorators take. Errors name the decorator's option
 * (`@WithLoadLock({ lockTtlMs })`).
 */
import { describeValue, LoadStatusConfigError } from '../errors';
import { unknownOption } from './checks';
import { rulesOn } from './table';

const DECORATOR_RULES = rulesOn('decorator');
const DECORATOR_OPTIONS = DECORATOR_RULES.map(([name]) => name);

/** Checks `options` of `decorator` (say `@WithLoadLock`), whose key option is `keyOption`. */
export function checkDecoratorOptions<T extends object>(
  decorator: string,
  keyOption: string,
  options: T,
): T {
  if (typeof options !== 'object' || options === null) {
    throw new LoadStatusConfigError(
      decorator,
      `expected an options object, got ${describeValue(options)}`,
    );
  }
  const nameOf = (option: string) => `${decorator}({ ${option} })`;
  const given = options as Readonly<Record<string, unknown>>;
  const known = [keyOption, ...DECORATOR_OPTIONS];
  for (const option of Object.keys(given)) {
    if (!known.includes(option)) throw unknownOption(nameOf(option), known);
  }
  const key = given[keyOption];
  if (
    key !== undefined &&
    typeof key !== 'function' &&
    !(Number.isInteger(key) && (key as number) >= 0 && (key as number) < 256)
  ) {
    throw new LoadStatusConfigError(
      nameOf(keyOption),
      `expected an argument index (0-255) or a function, got ${describeValue(key)}`,
    );
  }
  for (const [name, rule] of DECORATOR_RULES) {
    const value = given[name];
    if (value !== undefined) (rule.decoratorCheck ?? rule.check)(nameOf(name), value);
  }
  return options;
}
