import { LoadStatusConfigError, LoadStatusModuleMissingError } from './errors';

/**
 * Live services of this process, newest last. `@WithUserLoadLock()` looks its service up here at
 * call time, so it works on instances created by Nest and by hand alike. Generic, so that this
 * file knows nothing of the service it holds (`load-locks.ts` makes the one registry).
 */
export class ServiceRegistry<T extends { readonly keyPrefix: string }> {
  private readonly live: T[] = [];

  register(service: T): void {
    if (!this.live.includes(service)) this.live.push(service);
  }

  unregister(service: T): void {
    const index = this.live.indexOf(service);
    if (index >= 0) this.live.splice(index, 1);
  }

  /**
   * The service a decorated method uses: the live one with `keyPrefix` when given, else the only
   * live one. Several live services with different prefixes and no `keyPrefix` is an error, never
   * a guess (a guess would load one kind of data under another's flags). Several with the same
   * prefix (e.g. two apps in one test process) resolve to the newest.
   */
  resolve(method: string, keyPrefix: string | undefined): T {
    const candidates =
      keyPrefix === undefined ? this.live : this.live.filter((s) => s.keyPrefix === keyPrefix);
    if (candidates.length === 0) throw new LoadStatusModuleMissingError(method, keyPrefix);
    const prefixes = new Set(candidates.map((s) => s.keyPrefix));
    if (prefixes.size > 1) {
      throw new LoadStatusConfigError(
        '@WithUserLoadLock({ keyPrefix })',
        `${method} cannot choose between LoadStatusModule registrations with key prefixes ${[
          ...prefixes,
        ]
          .map((p) => JSON.stringify(p))
          .join(', ')}; name the one it uses`,
      );
    }
    return candidates[candidates.length - 1];
  }
}
