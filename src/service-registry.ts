import type { LoadLockService } from './load-lock.service';

/**
 * Live `LoadLockService`s of this process, newest last. `@WithUserLoadLock()` looks its service up
 * here at call time, so it works on instances created by Nest and by hand alike.
 */
const live: LoadLockService[] = [];

export function registerLoadLockService(service: LoadLockService): void {
  live.push(service);
}

export function unregisterLoadLockService(service: LoadLockService): void {
  const index = live.indexOf(service);
  if (index >= 0) live.splice(index, 1);
}

/** The most recently started live service, if any. */
export function currentLoadLockService(): LoadLockService | undefined {
  return live[live.length - 1];
}
