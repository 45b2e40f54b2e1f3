import { Inject, Injectable } from '@nestjs/common';
import { errorText } from './errors';
import { LoadStatusCore } from './load-status.core';

/** The shape `@nestjs/terminus` expects from an indicator (kept here so terminus stays optional). */
export type LoadStatusHealthResult<Key extends string = string> = Record<
  Key,
  {
    status: 'up' | 'degraded' | 'down';
    /** Where flags live: 'redis', 'memory' or 'cache-manager'. */
    store: 'redis' | 'memory' | 'cache-manager';
    /** Whether a PING reached the store (always true in memory). */
    reachable: boolean;
    /** Round trip of that PING, in ms. */
    pingMs?: number;
    /** Why the PING failed. */
    error?: string;
    /** Whether completion notifications are flowing (the subscriber connection is subscribed). */
    notifications: 'live' | 'down';
    /** True while fail-open serves calls from the in-process fallback. */
    degraded: boolean;
    onStoreError: 'fail-open' | 'fail-closed';
  }
>;

/**
 * Health of the load-status store for `@nestjs/terminus` (optional: this class does not import it).
 *
 * - `up`: the store answers and notifications flow;
 * - `degraded`: with `onStoreError: 'fail-open'`, Redis is unreachable (calls are coordinated
 *   in-process) or notifications are down (waiters fall back to polling); the app still works;
 * - `down`: with `onStoreError: 'fail-closed'`, Redis is unreachable, so calls fail.
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.loadStatusHealth.isHealthy('load-status')]); }
 * ```
 */
@Injectable()
export class LoadStatusHealthIndicator {
  constructor(@Inject(LoadStatusCore) private readonly core: LoadStatusCore) {}

  async isHealthy<const Key extends string = 'load-status'>(
    key: Key = 'load-status' as Key,
  ): Promise<LoadStatusHealthResult<Key>> {
    const { store, options } = this.core;
    const started = performance.now();
    let reachable = true;
    let error: string | undefined;
    try {
      await store.ping();
    } catch (e) {
      reachable = false;
      error = errorText(e);
    }
    const pingMs = Math.round((performance.now() - started) * 100) / 100;
    const notifications = store.notificationsLive ? 'live' : 'down';
    const degraded = store.isDegraded || !reachable;
    const status = !reachable
      ? options.onStoreError === 'fail-closed'
        ? 'down'
        : 'degraded'
      : notifications === 'down'
        ? 'degraded'
        : 'up';
    const details: LoadStatusHealthResult<Key>[Key] = {
      status,
      store: store.kind,
      reachable,
      notifications,
      degraded: options.onStoreError === 'fail-open' && degraded,
      onStoreError: options.onStoreError,
      ...(reachable ? { pingMs } : { error }),
    };
    return { [key]: details } as LoadStatusHealthResult<Key>;
  }
}
