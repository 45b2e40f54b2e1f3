/**
 * Type tests of the load-lock decorators, checked by `npm run typecheck` (tsc on this file; no
 * test runner). Each `@ts-expect-error` line is an assertion that the next line is a type error:
 * tsc fails the check if the error ever goes away ("Unused '@ts-expect-error' directive").
 *
 * The rule they pin: a decorated method resolves to `undefined` for a call that found the key
 * loaded or waited for another process, so its declared result must admit `undefined`.
 */
import { WithLoadLock, WithUserLoadLock } from '../../src';

interface Data {
  readonly servers: string[];
}

export class Accepted {
  @WithUserLoadLock()
  async orUndefined(_userId: string): Promise<Data | undefined> {
    return Promise.resolve({ servers: [] });
  }

  @WithUserLoadLock({ name: 'void' })
  async voidResult(_userId: string): Promise<void> {
    return Promise.resolve();
  }

  @WithLoadLock({ key: 1 })
  async optional(_tenant: string, _key: string): Promise<number | undefined> {
    return Promise.resolve(1);
  }

  @WithLoadLock()
  async anything(_key: string): Promise<unknown> {
    return Promise.resolve('x');
  }
}

export class Refused {
  // @ts-expect-error Promise<Data> would hide the undefined of an already-loaded call
  @WithUserLoadLock()
  async data(_userId: string): Promise<Data> {
    return Promise.resolve({ servers: [] });
  }

  // @ts-expect-error the same for the key-neutral decorator
  @WithLoadLock({ key: 0 })
  async count(_key: string): Promise<number> {
    return Promise.resolve(1);
  }

  // @ts-expect-error a synchronous method: the decorated call returns a promise
  @WithUserLoadLock()
  sync(_userId: string): Data | undefined {
    return undefined;
  }
}
