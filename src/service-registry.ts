import { LoadStatusConfigError, LoadStatusModuleMissingError } from './errors';
import type { LoadLocks } from './load-locks';

/**
 * Live `LoadLocks`s of this process, newest last. `@WithUserLoadLock()` looks its service up
 * here at call time, so it works on instances created by Nest and by hand alike.
 */
const live: LoadLocks[] = [];

export function registerLoadLockService(service: LoadLocks): void {
  if (!live.includes(service)) live.push(service);
}

export function unregisterLoadLockService(service: LoadLocks): void {
  const index = live.indexOf(service);
  if (index >= 0) live.splice(index, 1);
}

/**
 * The service a decorated method uses: the live one with `keyPrefix` when given, else the only
 * live one. Several live services with different prefixes and no `keyPrefix` is an error, never
 * a guess (a guess would load one kind of data under another's flags). Several with the same
 * prefix (e.g. two apps in one test process) resolve to the newest.
 */
export function resolveLoadLockService(method: string, keyPrefix: string | undefined): LoadLocks {
  const candidates = keyPrefix === undefined ? live : live.filter((s) => s.keyPrefix === keyPrefix);
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
