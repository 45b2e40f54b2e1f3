import { nestLogger, type LoadStatusLogger } from './logger';
import { randomUUID } from 'node:crypto';
import { decodeUserTag, KeyBuilder, type UserKeys } from './keys';
import { errorText, LoadStatusConfigError, LoadStatusShutdownError } from './errors';
import type { ResolvedLoadStatusOptions } from './load-status.options';
import { LoadStatusEvents } from './load-status.events';
import { CacheFlagLoadStore, type FlagCache } from './stores/cache-flag-load-store';
import { GuardedLoadStore } from './stores/guarded-load-store';
import type { LoadStore, StoreListener, StoreNotice } from './stores/load-store';
import { MemoryLoadStore } from './stores/memory-load-store';
import { NearCachedLoadStore } from './stores/near-cached-load-store';
import { RedisLoadStore } from './stores/redis/redis-load-store';
import { checkLoadName, normalizeUserId } from './validation';
import { WaiterRegistry } from './waiter';

/** Logged once at boot when no store was chosen and no `redis` given. */
export const ONE_PROCESS_WARNING =
  "no redis option: loads are coordinated within this process only, so every process loads on its own. Give redis a URL, options or a client to coordinate processes, or set store: 'memory' if one process is meant";

/** Injection token of the validated options. */
export const LOAD_STATUS_RESOLVED_OPTIONS = Symbol('LOAD_STATUS_RESOLVED_OPTIONS');

/**
 * What both services share: options, keys, the store and the waiters it wakes. One per module
 * instance, created (and connected) by an async factory before the services.
 */
export class LoadStatusCore implements StoreListener {
  readonly keys: KeyBuilder;
  readonly waiters = new WaiterRegistry();
  /**
   * Redis without a near-cache: a check reads the flag (a two-key script) before it runs the
   * acquire script, which costs more per call; most checks find the user loaded.
   */
  readonly readsFlagFirst: boolean;
  private closing = false;
  private readonly registeredLoads = new Set<string>();
  private readonly registering = new Map<string, Promise<void>>();

  private constructor(
    /** Identifies this process's module instance in tokens, logs and events. */
    readonly instanceId: string,
    readonly events: LoadStatusEvents,
    readonly options: ResolvedLoadStatusOptions,
    readonly store: LoadStore,
    /** The store again when it is near-cached, for the synchronous hot path. */
    readonly nearCache: NearCachedLoadStore | undefined,
    readonly logger: LoadStatusLogger,
  ) {
    this.keys = new KeyBuilder(options.keyPrefix);
    this.readsFlagFirst = store.kind === 'redis' && nearCache === undefined;
  }

  /**
   * `appCache` resolves the app's CACHE_MANAGER, for `cache: true`; `logger` is where everything
   * of this instance logs (Nest's `Logger` by default, loaded on first use).
   */
  static async create(
    options: ResolvedLoadStatusOptions,
    appCache: () => FlagCache = () => {
      throw new LoadStatusConfigError('cache', 'true is not available here');
    },
    logger: LoadStatusLogger = nestLogger(),
  ): Promise<LoadStatusCore> {
    const keys = new KeyBuilder(options.keyPrefix);
    const instanceId = randomUUID();
    const events = new LoadStatusEvents(instanceId, logger);
    let store: LoadStore;
    let nearCache: NearCachedLoadStore | undefined;
    if (options.redis === undefined) {
      store = new MemoryLoadStore(`memory:${instanceId}`);
    } else {
      store = new GuardedLoadStore(
        new RedisLoadStore(options.redis, keys, options.waitForReplicas, logger),
        options.onStoreError,
        options.commandTimeoutMs,
        events,
        instanceId,
        logger,
      );
      if (options.nearCache) {
        const { maxEntries, maxAgeMs } = options.nearCache;
        store = nearCache = new NearCachedLoadStore(store, maxEntries, maxAgeMs);
      }
    }
    if (options.cache !== undefined) {
      store = new CacheFlagLoadStore(
        options.cache === true ? appCache() : options.cache,
        store,
        options.onStoreError,
        options.commandTimeoutMs,
        Date.now,
        keys.cacheGenerationKey,
        logger,
      );
    }
    const core = new LoadStatusCore(instanceId, events, options, store, nearCache, logger);
    await store.init(core);
    core.logger.debug(`started with the ${store.kind} store (instance ${core.instanceId})`);
    if (!options.storeChosen) core.logger.warn(ONE_PROCESS_WARNING);
    return core;
  }

  /**
   * Makes sure `name` is in the store's registry of loads before a load of it writes a flag, so
   * that "every load of a key" (`clearEveryLoad`) finds it from any process. Undefined when that
   * is already so (the hot path awaits nothing); a failure is not the caller's (the call goes on,
   * under the store's policy) and the next call tries again.
   */
  registerLoad(name: string | undefined): Promise<void> | undefined {
    if (name === undefined || this.registeredLoads.has(name)) return undefined;
    let pending = this.registering.get(name);
    if (pending === undefined) {
      pending = this.store
        .registerLoad(name)
        .then(
          () => void this.registeredLoads.add(name),
          (error: unknown) =>
            this.logger.debug(
              `could not register the load ${JSON.stringify(name)} (${errorText(error)}); the next call tries again`,
            ),
        )
        .finally(() => this.registering.delete(name));
      this.registering.set(name, pending);
    }
    return pending;
  }

  /** Load names this instance registered or is registering. */
  get knownLoads(): ReadonlySet<string> {
    return new Set([...this.registeredLoads, ...this.registering.keys()]);
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /**
   * Validates a key (a user id) and a load name, and returns them with the keys of that load of
   * that key. `load` undefined: the unnamed load.
   */
  user(userId: unknown, load?: unknown): { id: string; load: string | undefined; keys: UserKeys } {
    const id = normalizeUserId(userId);
    const name = load === undefined ? undefined : checkLoadName('name', load);
    return { id, load: name, keys: this.keys.forLoad(name, id) };
  }

  assertOpen(userId?: string): void {
    if (this.closing) throw new LoadStatusShutdownError(userId);
  }

  notice(notice: StoreNotice): void {
    this.waiters.notify(notice.tag, notice.kind, notice.holder);
  }

  resubscribed(): void {
    this.logger.debug('notification channel back; waiters re-check');
    this.waiters.notifyAll('resync');
  }

  /** First shutdown phase: no new calls, every pending wait ends with a typed error. */
  beginShutdown(): void {
    this.closing = true;
    this.waiters.failAll((tag) => new LoadStatusShutdownError(decodeUserTag(tag)));
  }

  /** Last shutdown phase: close what we opened. */
  async close(): Promise<void> {
    this.closing = true;
    this.events.complete();
    await this.store.close();
  }
}
