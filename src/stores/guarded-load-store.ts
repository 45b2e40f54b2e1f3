import { nestLogger, type LoadStatusLogger } from '../logger';
import {
  errorText,
  LoadStatusConfigError,
  LoadStatusRejectedError,
  rejectionText,
  LoadStatusUnavailableError,
  StoreUnreachableError,
} from '../errors';
import { redactError } from '../redaction';
import type {
  AcquireRequest,
  AcquireResult,
  FinishRequest,
  FinishResult,
  LoadStore,
  OnStoreError,
  RemoteLoadStore,
  StoreFailure,
  StoreListener,
} from './load-store';
import { CommandDeadlines } from './command-deadlines';
import { MemoryLoadStore } from './memory-load-store';
import type { LoadStatusEvents } from '../load-status.events';
import type { NoticeKind, UserKeys } from '../keys';

/** How {@link GuardedLoadStore} runs one command (see its `run`). */
interface RunOptions {
  /** The fallback may serve the command under fail-open. @default true */
  readonly useFallback?: boolean;
  /** The caller rides out an outage: an unreachable store throws instead. @default false */
  readonly rideOut?: boolean;
}

/** For a command the fallback must never serve (each says why). */
const NO_FALLBACK: RunOptions = { useFallback: false };

/**
 * Applies the store-error policy around a remote store: every command is bounded by
 * `commandTimeoutMs`; a failure either throws {@link LoadStatusUnavailableError} (fail-closed) or
 * is served by an in-process {@link MemoryLoadStore} (fail-open). The remote store is tried again
 * on every call, so recovery is automatic.
 *
 * Every member is written out (no delegating base class): each must be decided under the policy,
 * including one added to the port later.
 */
export class GuardedLoadStore implements LoadStore {
  private readonly fallback: MemoryLoadStore;
  private degraded = false;
  /** The policy's warning was given in this outage (a caller riding it out does not give it). */
  private warned = false;
  /** The refusal the last failed command met, until a command works again. */
  private commandRejection: StoreFailure | undefined;
  private readonly deadlines: CommandDeadlines;
  /** Tokens of locks the fallback issued: they are extended and released there, not in Redis. */
  private readonly fallbackTokens = new Set<string>();

  private readonly policy: OnStoreError;
  private readonly events: LoadStatusEvents | undefined;
  private readonly logger: LoadStatusLogger;

  constructor(
    private readonly primary: RemoteLoadStore,
    {
      onStoreError,
      commandTimeoutMs,
      events,
      instanceId = 'unknown',
      logger = nestLogger(),
    }: {
      readonly onStoreError: OnStoreError;
      /** Each command's deadline: past it, the store counts as unreachable. */
      readonly commandTimeoutMs: number;
      readonly events?: LoadStatusEvents;
      /** Names the fallback's leases (`fallback:<instanceId>`). */
      readonly instanceId?: string;
      readonly logger?: LoadStatusLogger;
    },
  ) {
    this.policy = onStoreError;
    this.events = events;
    this.logger = logger;
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

  get notices(): LoadStore['notices'] {
    return this.primary.notices;
  }

  get rejection(): StoreFailure | undefined {
    return this.commandRejection ?? this.primary.rejection;
  }

  /**
   * Connects, within `commandTimeoutMs`. Unreachable: the boot goes on under either policy (calls
   * apply it while the store stays unreachable). Refused (credentials, ACL, TLS): the boot fails
   * with a {@link LoadStatusConfigError} for `redis` (its `cause` the {@link LoadStatusRejectedError}),
   * under either policy, and what was opened is closed.
   */
  async init(listener: StoreListener): Promise<void> {
    await this.fallback.init(listener);
    try {
      await this.bounded('connect', this.primary.init(listener));
    } catch (error) {
      // What the connection itself reported beats the error that ended the boot first.
      const seen = this.primary.classify(error);
      const refusal =
        this.primary.bootRejection?.() ?? (seen.kind === 'rejected' ? seen : undefined);
      if (refusal) {
        await this.close();
        const args = ['the connection', refusal.reason, refusal.fix ?? '', error] as const;
        throw new LoadStatusConfigError('redis', rejectionText(...args), {
          cause: new LoadStatusRejectedError(...args),
        });
      }
      this.logger.warn(
        `store not reachable at start-up (${errorText(error)}); onStoreError is '${this.policy}'`,
      );
    }
  }

  flagTtl(user: UserKeys, watchMs?: number): Promise<number | undefined> {
    return this.run('isLoaded', (s) => s.flagTtl(user, watchMs));
  }
  setLoaded(user: UserKeys, ttlMs: number): Promise<void> {
    return this.run('setLoaded', (s) => s.setLoaded(user, ttlMs));
  }
  clearLoaded(user: UserKeys): Promise<void> {
    return this.run('clearLoaded', (s) => s.clearLoaded(user));
  }
  /** Never served by the fallback: an invalidation Redis did not get would be lost. */
  async clearLoad(name: string): Promise<void> {
    await this.fallback.clearLoad(name);
    await this.run('clearLoad', (s) => s.clearLoad(name), NO_FALLBACK);
  }
  /** Never served by the fallback: a name only this process knew would be missed by the others. */
  registerLoad(name: string): Promise<void> {
    return this.run('registerLoad', (s) => s.registerLoad(name), NO_FALLBACK);
  }
  /** Never served by the fallback: this process's names are not every process's. */
  loadNames(): Promise<string[]> {
    return this.run('loadNames', (s) => s.loadNames(), NO_FALLBACK);
  }
  /** Never served by the fallback: an invalidation Redis did not get would be lost. */
  async clearAllLoaded(): Promise<void> {
    await this.fallback.clearAllLoaded();
    await this.run('clearAllLoaded', (s) => s.clearAllLoaded(), NO_FALLBACK);
  }
  /** `request.rideOut`: an unreachable store throws {@link StoreUnreachableError} instead. */
  async acquire(user: UserKeys, token: string, request: AcquireRequest): Promise<AcquireResult> {
    let servedByFallback = false;
    const result = await this.run(
      'acquire',
      (s) => {
        servedByFallback = s === this.fallback;
        return s.acquire(user, token, request);
      },
      { rideOut: request.rideOut },
    );
    if (servedByFallback && result.state === 'acquired') this.fallbackTokens.add(token);
    return result;
  }
  /**
   * A lease taken in Redis cannot be extended by the fallback: while Redis is unreachable its
   * state is unknown, so the error is thrown (the keep-alive retries). A lock the fallback issued
   * during an outage stays the fallback's, even after Redis is back.
   */
  async extend(user: UserKeys, token: string, ttlMs: number): Promise<boolean> {
    if (this.fallbackTokens.has(token)) return this.fallback.extend(user, token, ttlMs);
    return this.run('extend', (s) => s.extend(user, token, ttlMs), NO_FALLBACK);
  }
  async release(user: UserKeys, token: string): Promise<boolean> {
    if (this.fallbackTokens.delete(token)) return this.fallback.release(user, token);
    return this.run('release', (s) => s.release(user, token));
  }
  /** `request.rideOut`: an unreachable store throws {@link StoreUnreachableError} instead. */
  async finish(user: UserKeys, token: string, request: FinishRequest): Promise<FinishResult> {
    const { loadedTtlMs } = request;
    if (!this.fallbackTokens.has(token)) {
      return this.run(
        'finish',
        // The generation is the primary's: the fallback, serving a failed finish, keeps its own.
        (s) => s.finish(user, token, s === this.primary ? request : { loadedTtlMs }),
        { rideOut: request.rideOut },
      );
    }
    this.fallbackTokens.delete(token);
    // Loaded under a fallback lock: set the flag where the cluster sees it, if Redis answers now.
    const result = await this.fallback.finish(user, token, request);
    // Not when a clearAllLoaded ran meanwhile: that load must not count anywhere.
    if (result.committed && loadedTtlMs > 0)
      await this.run('setLoaded', (s) => s.setLoaded(user, loadedTtlMs)).catch(() => undefined);
    return result;
  }

  async finishLock(user: UserKeys, token: string): Promise<boolean> {
    if (this.fallbackTokens.delete(token)) return this.fallback.finishLock(user, token);
    return this.run('finish', (s) => s.finishLock(user, token));
  }
  publish(kind: NoticeKind, user: UserKeys): Promise<void> {
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

  /**
   * One store command under the policy. `rideOut`: the caller rides out an outage (see
   * `outageGraceMs`): an unreachable store throws {@link StoreUnreachableError} instead.
   * `useFallback: false`: never served by the fallback (fail-open throws as fail-closed does).
   */
  private async run<T>(
    operation: string,
    command: (store: LoadStore) => Promise<T>,
    { useFallback = true, rideOut = false }: RunOptions = {},
  ): Promise<T> {
    try {
      const result = await this.bounded(operation, command(this.primary));
      if (this.degraded) {
        this.degraded = false;
        this.warned = false;
        this.logger.log('store reachable again; coordination is cluster-wide again');
        this.events?.emit({ type: 'store-recovered', operation });
      }
      if (this.commandRejection) {
        this.commandRejection = undefined;
        this.logger.log('Redis accepts the module again');
      }
      return result;
    } catch (error) {
      const failure = this.primary.classify(error);
      this.events?.emit({
        type: 'store-error',
        operation,
        error: redactError(error),
        kind: failure.kind,
      });
      if (failure.kind === 'rejected') {
        // A misconfiguration: no policy serves it; the caller is told, and so is the log.
        if (this.commandRejection?.reason !== failure.reason) {
          this.logger.error(
            `Redis rejected ${operation} (${failure.reason}: ${errorText(error)}); ${failure.fix}`,
          );
        }
        this.commandRejection = failure;
        throw new LoadStatusRejectedError(operation, failure.reason, failure.fix ?? '', error);
      }
      if (rideOut) {
        this.degraded = true;
        throw new StoreUnreachableError(operation, error);
      }
      const serveHere = this.policy === 'fail-open' && useFallback;
      this.degraded = true;
      if (!this.warned) {
        // Once per outage, naming the policy (the first failed call may be one no fallback serves).
        this.warned = true;
        this.logger.warn(
          `store error during ${operation} (${errorText(error)}); ` +
            (this.policy === 'fail-open'
              ? 'degrading to in-process coordination'
              : 'calls fail until it answers'),
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
