import { Inject, Injectable } from '@nestjs/common';
import { errorText, LoadStatusHealthCheckError } from './errors';
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
    /** How notices travel: `sharded` (shard-local, on a Cluster), `classic` pub/sub, or `in-process`. */
    noticePath: 'in-process' | 'classic' | 'sharded';
    /** Why a Cluster uses classic pub/sub (what the server or client lacks). */
    noticePathReason?: string;
    /** True while fail-open serves calls from the in-process fallback. */
    degraded: boolean;
    /**
     * Set while Redis refuses the module (credentials, ACL, TLS): the cause, e.g. `NOPERM`. The
     * status is then `down` under either policy: a misconfiguration is not degradation.
     */
    rejected?: string;
    onStoreError: 'fail-open' | 'fail-closed';
  }
>;

/**
 * Health of the load-status store for `@nestjs/terminus` (optional: this class does not import it).
 *
 * - `up`: the store answers and notifications flow;
 * - `degraded`: with `onStoreError: 'fail-open'`, Redis is unreachable (calls are coordinated
 *   in-process) or notifications are down (waiters fall back to polling); the app still works;
 * - `down`: with `onStoreError: 'fail-closed'`, Redis is unreachable, so calls fail; or, under
 *   either policy, Redis refuses the module (`rejected` names why).
 *
 * ```ts
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.loadStatusHealth.isHealthy('load-status')]); }
 * ```
 */
@Injectable()
export class LoadStatusHealthIndicator {
  constructor(@Inject(LoadStatusCore) private readonly core: LoadStatusCore) {}

  /**
   * The health as @nestjs/terminus 12 reads it: `up`, `degraded` or `down`, never thrown. (On
   * terminus 10 and 11 use {@link isHealthyOrThrow}: they know no `degraded`, and 10 reads only
   * thrown errors.)
   */
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
    const rejected = store.rejection?.reason;
    const status =
      rejected !== undefined
        ? 'down'
        : !reachable
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
      noticePath: store.notices.mode,
      ...(store.notices.reason === undefined ? {} : { noticePathReason: store.notices.reason }),
      degraded: options.onStoreError === 'fail-open' && degraded,
      onStoreError: options.onStoreError,
      ...(rejected === undefined ? {} : { rejected }),
      ...(reachable ? { pingMs } : { error }),
    };
    return { [key]: details } as LoadStatusHealthResult<Key>;
  }

  /**
   * The health as @nestjs/terminus 10 and 11 read it: `up` (a degraded store shows as up, with
   * `degraded: true` or `notifications: 'down'` in the details), or, when down, a thrown
   * {@link LoadStatusHealthCheckError} (terminus recognises it as its own `HealthCheckError`).
   *
   * ```ts
   * check() { return this.health.check([() => this.loadStatusHealth.isHealthyOrThrow()]); }
   * ```
   */
  async isHealthyOrThrow<const Key extends string = 'load-status'>(
    key: Key = 'load-status' as Key,
  ): Promise<LoadStatusLegacyHealthResult<Key>> {
    const details = (await this.isHealthy(key))[key];
    if (details.status === 'down') {
      const causes = { [key]: { ...details, status: 'down' } } as LoadStatusLegacyHealthResult<Key>;
      throw new LoadStatusHealthCheckError(key, details.error, causes);
    }
    return { [key]: { ...details, status: 'up' } } as LoadStatusLegacyHealthResult<Key>;
  }
}

/** {@link LoadStatusHealthResult} with the two statuses terminus 10 and 11 know. */
export type LoadStatusLegacyHealthResult<Key extends string = string> = Record<
  Key,
  Omit<LoadStatusHealthResult<Key>[Key], 'status'> & { status: 'up' | 'down' }
>;
