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
import { FINISH_MARKER_MS } from './stores/redis/redis-scripts';
import { checkLoadName, normalizeUserId } from './validation';
import { WaiterRegistry } from './waiter';

/** How often a registered load name is written again (see `LoadStatusCore.registerLoad`). */
const REREGISTER_MS = 60_000;

/** Logged once at boot when no store was chosen and no `redis` given. */
export const ONE_PROCESS_WARNING =
  "no redis option: loads are coordinated within this process only, so every process loads on its own. Give redis a URL, options or a client to coordinate processes, or set store: 'memory' if one process is meant";

/**
 * What both services share: options, keys, the store and the waiters it wakes. One per module
 * instance, created (and connected) by an async factory before the services.
 */
export class LoadStatusCore implements StoreListener {
  readonly waiters = new WaiterRegistry();
  /**
   * Redis without a near-cache: a check reads the flag (a two-key script) before it runs the
   * acquire script, which costs more per call; most checks find the user loaded.
   */
  readonly readsFlagFirst: boolean;
  private closing = false;
  /** Load names this instance registered, and when (`performance.now()`). */
  private readonly registeredLoads = new Map<string, number>();
  private readonly registering = new Map<string, Promise<void>>();
  private readonly registrationWarned = new Set<string>();
  /** Warnings this instance gives once (see {@link warnOnce}). */
  private readonly warnedOnce = new Set<string>();

  private constructor(
    /** Identifies this process's module instance in tokens, logs and events. */
    readonly instanceId: string,
    /** Every key and channel of this registration (the stores were given the same builder). */
    readonly keys: KeyBuilder,
    readonly events: LoadStatusEvents,
    readonly options: ResolvedLoadStatusOptions,
    readonly store: LoadStore,
    /** The store again when it is near-cached, for the synchronous hot path. */
    readonly nearCache: NearCachedLoadStore | undefined,
    readonly logger: LoadStatusLogger,
  ) {
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
      const redis = new RedisLoadStore(options.redis, keys, {
        waitForReplicas: options.waitForReplicas,
        logger,
        // A finish is retried for outageGraceMs, each attempt bounded by commandTimeoutMs.
        finishMarkerMs: Math.max(
          FINISH_MARKER_MS,
          options.outageGraceMs + 2 * options.commandTimeoutMs,
        ),
      });
      store = new GuardedLoadStore(redis, {
        onStoreError: options.onStoreError,
        commandTimeoutMs: options.commandTimeoutMs,
        events,
        instanceId,
        logger,
      });
      if (options.nearCache) {
        const { maxEntries, maxAgeMs } = options.nearCache;
        store = nearCache = new NearCachedLoadStore(store, maxEntries, maxAgeMs);
      }
    }
    if (options.cache !== undefined) {
      store = new CacheFlagLoadStore(options.cache === true ? appCache() : options.cache, store, {
        onStoreError: options.onStoreError,
        commandTimeoutMs: options.commandTimeoutMs,
        generationKey: keys.cacheGenerationKey,
        logger,
      });
    }
    const core = new LoadStatusCore(instanceId, keys, events, options, store, nearCache, logger);
    await store.init(core);
    core.logger.debug(`started with the ${store.kind} store (instance ${core.instanceId})`);
    if (!options.storeChosen) core.logger.warn(ONE_PROCESS_WARNING);
    return core;
  }

  /**
   * Makes sure `name` is in the store's registry of loads before a load of it writes a flag, so
   * that "every load of a key" (`clearEveryLoad`) finds it from any process. The first call of a
   * name awaits the registration; after that the hot path awaits nothing, and the name is written
   * again in the background every {@link REREGISTER_MS} (and awaited again after the notice
   * channel reconnects, or a reset), so a registry lost with Redis's data is written back. A
   * failure is not the caller's (the call goes on, under the store's policy); the next call tries
   * again.
   */
  registerLoad(name: string | undefined): Promise<void> | undefined {
    if (name === undefined) return undefined;
    const registeredAt = this.registeredLoads.get(name);
    if (registeredAt !== undefined && performance.now() - registeredAt < REREGISTER_MS) {
      return undefined;
    }
    let pending = this.registering.get(name);
    if (pending === undefined) {
      pending = this.store
        .registerLoad(name)
        .then(
          () => {
            this.registeredLoads.set(name, performance.now());
            this.registrationWarned.delete(name);
          },
          (error: unknown) => {
            // Once per name until it is registered: every call retries, an outage must not flood.
            if (this.registrationWarned.has(name)) return;
            this.registrationWarned.add(name);
            this.logger.warn(
              `could not register the load ${JSON.stringify(name)} (${errorText(error)}); clearEveryLoad in other processes may miss it until a later call registers it`,
            );
          },
        )
        .finally(() => this.registering.delete(name));
      this.registering.set(name, pending);
    }
    // Registered before: refreshed in the background, the call goes on at once.
    return registeredAt === undefined ? pending : undefined;
  }

  /** Names are registered again from scratch: the store's registry may be gone (reset, restart). */
  forgetRegisteredLoads(): void {
    this.registeredLoads.clear();
  }

  /** Load names this instance registered or is registering. */
  get knownLoads(): ReadonlySet<string> {
    return new Set([...this.registeredLoads.keys(), ...this.registering.keys()]);
  }

  /** Logs `message` as a warning the first time this instance is told of `topic`. */
  warnOnce(topic: string, message: () => string): void {
    if (this.warnedOnce.has(topic)) return;
    this.warnedOnce.add(topic);
    this.logger.warn(message());
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
    // A name seen before was checked then: the hot path skips the check.
    const name =
      load === undefined || this.keys.knowsLoad(load)
        ? (load as string | undefined)
        : checkLoadName('name', load);
    return { id, load: name, keys: this.keys.forLoad(name, id) };
  }

  assertOpen(userId?: string): void {
    if (this.closing) throw new LoadStatusShutdownError(userId);
  }

  notice(notice: StoreNotice): void {
    this.waiters.notify(notice.tag, notice.kind, notice.holder);
  }

  resubscribed(): void {
    // The channel was down: Redis may have restarted empty, the registry of loads with it.
    this.forgetRegisteredLoads();
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
