import { Logger } from '@nestjs/common';
import { errorText, LoadStatusUnavailableError } from '../errors';
import type { OnStoreError } from '../load-status.options';
import type { AcquireResult, LoadStore, StoreListener, StoreUser } from './load-store';
import { CommandDeadlines } from './command-deadlines';
import { MemoryLoadStore } from './memory-load-store';
import type { LoadStatusEvents } from '../load-status.events';
import type { NoticeKind } from '../keys';

/**
 * Applies the store-error policy around a remote store: every command is bounded by
 * `commandTimeoutMs`; a failure either throws {@link LoadStatusUnavailableError} (fail-closed) or
 * is served by an in-process {@link MemoryLoadStore} (fail-open). The remote store is tried again
 * on every call, so recovery is automatic.
 */
export class GuardedLoadStore implements LoadStore {
  private readonly fallback: MemoryLoadStore;
  private degraded = false;
  private readonly logger = new Logger('LoadStatus');
  private readonly deadlines: CommandDeadlines;
  /** Tokens of locks the fallback issued: they are extended and released there, not in Redis. */
  private readonly fallbackTokens = new Set<string>();

  constructor(
    private readonly primary: LoadStore,
    private readonly policy: OnStoreError,
    commandTimeoutMs: number,
    private readonly events?: LoadStatusEvents,
    /** Names the fallback's leases (`fallback:<instanceId>`). */
    instanceId = 'unknown',
  ) {
    this.deadlines = CommandDeadlines.forStore(commandTimeoutMs);
    this.fallback = new MemoryLoadStore(`fallback:${instanceId}`);
  }

  get kind(): LoadStore['kind'] {
    return this.primary.kind;
  }

  get notificationsLive(): boolean {
    return this.primary.notificationsLive;
  }

  /** True while the last store command failed (fail-open serves calls from memory meanwhile). */
  get isDegraded(): boolean {
    return this.degraded;
  }

  async init(listener: StoreListener): Promise<void> {
    await this.fallback.init(listener);
    try {
      await this.bounded('connect', this.primary.init(listener));
    } catch (error) {
      // Boot goes on either way: calls apply the policy while the store stays unreachable.
      this.logger.warn(
        `store not reachable at start-up (${errorText(error)}); onStoreError is '${this.policy}'`,
      );
    }
  }

  flagTtl(user: StoreUser, watchMs?: number): Promise<number | undefined> {
    return this.run('isLoaded', (s) => s.flagTtl(user, watchMs));
  }
  setLoaded(user: StoreUser, ttlMs: number): Promise<void> {
    return this.run('setLoaded', (s) => s.setLoaded(user, ttlMs));
  }
  clearLoaded(user: StoreUser): Promise<void> {
    return this.run('clearLoaded', (s) => s.clearLoaded(user));
  }
  async acquire(
    user: StoreUser,
    token: string,
    ttlMs: number,
    checkFlag: boolean,
  ): Promise<AcquireResult> {
    let servedByFallback = false;
    const result = await this.run('acquire', (s) => {
      servedByFallback = s === this.fallback;
      return s.acquire(user, token, ttlMs, checkFlag);
    });
    if (servedByFallback && result.state === 'acquired') this.fallbackTokens.add(token);
    return result;
  }
  /**
   * A lease taken in Redis cannot be extended by the fallback: while Redis is unreachable its
   * state is unknown, so the error is thrown (the keep-alive retries). A lock the fallback issued
   * during an outage stays the fallback's, even after Redis is back.
   */
  async extend(user: StoreUser, token: string, ttlMs: number): Promise<boolean> {
    if (this.fallbackTokens.has(token)) return this.fallback.extend(user, token, ttlMs);
    return this.run('extend', (s) => s.extend(user, token, ttlMs), false);
  }
  async release(user: StoreUser, token: string): Promise<boolean> {
    if (this.fallbackTokens.delete(token)) return this.fallback.release(user, token);
    return this.run('release', (s) => s.release(user, token));
  }
  async finish(user: StoreUser, token: string, loadedTtlMs: number): Promise<boolean> {
    if (!this.fallbackTokens.delete(token)) {
      return this.run('finish', (s) => s.finish(user, token, loadedTtlMs));
    }
    // Loaded under a fallback lock: set the flag where the cluster sees it, if Redis answers now.
    const owned = await this.fallback.finish(user, token, loadedTtlMs);
    await this.run('setLoaded', (s) => s.setLoaded(user, loadedTtlMs)).catch(() => undefined);
    return owned;
  }

  async finishLock(user: StoreUser, token: string): Promise<boolean> {
    if (this.fallbackTokens.delete(token)) return this.fallback.finishLock(user, token);
    return this.run('finish', (s) => s.finishLock(user, token));
  }
  publish(kind: NoticeKind, user: StoreUser): Promise<void> {
    return this.run('publish', (s) => s.publish(kind, user));
  }

  async reset(): Promise<void> {
    await this.fallback.reset();
    await this.primary.reset();
  }

  /** Pings the remote store itself (never the fallback), bounded by `commandTimeoutMs`. */
  ping(): Promise<void> {
    return this.bounded('ping', this.primary.ping());
  }

  async close(): Promise<void> {
    this.deadlines.close();
    await Promise.all([this.primary.close(), this.fallback.close()]);
  }

  private async run<T>(
    operation: string,
    command: (store: LoadStore) => Promise<T>,
    useFallback = true,
  ): Promise<T> {
    try {
      const result = await this.bounded(operation, command(this.primary));
      if (this.degraded) {
        this.degraded = false;
        this.logger.log('store reachable again; coordination is cluster-wide again');
        this.events?.emit({ type: 'store-recovered', operation });
      }
      return result;
    } catch (error) {
      this.events?.emit({ type: 'store-error', operation, error });
      const serveHere = this.policy === 'fail-open' && useFallback;
      if (!this.degraded) {
        this.degraded = true;
        this.logger.warn(
          `store error during ${operation} (${errorText(error)}); ` +
            (serveHere ? 'degrading to in-process coordination' : 'calls fail until it answers'),
        );
      }
      if (!serveHere) {
        throw error instanceof LoadStatusUnavailableError
          ? error
          : new LoadStatusUnavailableError(operation, error);
      }
      return command(this.fallback);
    }
  }

  private bounded<T>(operation: string, promise: Promise<T>): Promise<T> {
    return this.deadlines.bound(operation, promise);
  }
}
