/**
 * `nestjs-load-status/testing`: what an app's own tests need, kept out of the production services.
 * Loads no `@nestjs/*` package, so it serves Nest apps and `createLoadStatus()` alike.
 */
import { describeValue, LoadStatusConfigError } from './errors';
import { LoadFlags } from './load-flags';
import { RESET } from './internal';

/**
 * Deletes every flag, lock and fencing counter of one registration (its `keyPrefix`), in the
 * store and in this process's near-cache, so the next test starts with nothing loaded. Give it
 * the flags service (`app.get(LoadStatusService)` in Nest) or what `createLoadStatus()` returned.
 * With Redis it SCANs and UNLINKs the prefix's keys (every master of a Cluster); flags kept in a
 * cache-manager `cache` stay there (clear them with the cache's API). Locks held by running
 * loaders vanish too: call it between tests, not during one.
 *
 * ```ts
 * afterEach(() => resetLoadStatus(app.get(LoadStatusService)));
 * ```
 */
export async function resetLoadStatus(
  target: LoadFlags | { readonly status: LoadFlags },
): Promise<void> {
  const flags =
    target instanceof LoadFlags ? target : (target as { status?: unknown } | null)?.status;
  if (!(flags instanceof LoadFlags)) {
    throw new LoadStatusConfigError(
      'resetLoadStatus',
      `expected LoadStatusService (or LoadFlags) or what createLoadStatus() returned, got ${describeValue(target)}`,
    );
  }
  await flags[RESET]();
}
