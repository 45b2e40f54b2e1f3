import { describeValue, errorText, LoadStatusConfigError, LoadStatusShutdownError } from './errors';
import {
  ALREADY_LOADED,
  type FlightHost,
  type FlightSettings,
  type Loader,
  type LoadOutcome,
} from './flight';
import { onTimeout, runFlight } from './load-flow';
import { HeldLoadLock, type LoadLock } from './load-lock';
import type { LoadStatusCore } from './load-status.core';
import {
  checkRefreshAheadMs,
  MIN_LOCK_TTL_MS,
  oneOf,
  type OnWaitTimeout,
} from './load-status.options';
import { runLocked } from './locked-load';
import { CLAIM_DEFAULT_NAME } from './internal';
import { ServiceRegistry } from './service-registry';
import { callOptions, checkDurationMs, type LoadNameOption } from './validation';
import { decodeUserTag, type UserKeys } from './keys';
import type { AcquireRequest, AcquireResult } from './stores/load-store';

/** Per-call options of {@link LoadLocks.ensureLoaded}: the load's name, and overrides. */
export interface EnsureLoadedOptions extends LoadNameOption {
  /** @default the module's `loadedTtlMs` */
  loadedTtlMs?: number;
  /** @default the module's `lockTtlMs` */
  lockTtlMs?: number;
  /** @default the module's `waitTimeoutMs` */
  waitTimeoutMs?: number;
  /** @default the module's `onWaitTimeout` */
  onWaitTimeout?: OnWaitTimeout;
  /**
   * Refresh ahead when less than this is left of the flag (0: off); must be below the call's
   * `loadedTtlMs`. The module's value is used only where it is below the call's `loadedTtlMs`.
   * @default the module's `refreshAheadMs`
   */
  refreshAheadMs?: number;
}

/** Options of {@link LoadLocks.acquireLoadLock} (a number alone is `ttlMs`). */
export interface AcquireLoadLockOptions extends LoadNameOption {
  /** @default the module's `lockTtlMs` */
  ttlMs?: number;
}

/**
 * Token-owned locks and the load-once flow. `ensureLoaded` runs a loader at most once per key per
 * `loadedTtlMs` across every process sharing the store; concurrent callers in one process share
 * one flight, so the store sees one caller per process.
 */
/** The live services of this process, which `@WithUserLoadLock()` finds its own among. */
export const loadLockServices = new ServiceRegistry<LoadLocks>();

export class LoadLocks {
  private readonly flights = new Map<string, Promise<LoadOutcome<unknown>>>();
  private readonly held = new Map<HeldLoadLock, AbortController | undefined>();
  /** Loaders running without the lock (`onWaitTimeout: 'run'`): shutdown aborts them too. */
  private readonly unlocked = new Set<AbortController>();
  /** Acquires in flight: shutdown waits for them, so no lock is won after it looked. */
  private readonly acquiring = new Set<Promise<unknown>>();
  private sequence = 0;
  /** Default load names in use, and the class each belongs to (see `CLAIM_DEFAULT_NAME`). */
  private readonly defaultNames = new Map<string, object>();
  private acquiresSinceSweep = 0;
  private readonly host: FlightHost;

  constructor(private readonly core: LoadStatusCore) {
    this.host = {
      core,
      nextToken: () => this.nextToken(),
      acquire: (keys, token, request) => this.acquire(keys, token, request),
      refreshInBackground: (userId, keys, token, grant, loader, settings) =>
        this.refreshInBackground(userId, keys, token, grant, loader, settings),
      track: (lock, controller) => {
        if (lock) this.held.set(lock, controller);
        else this.unlocked.add(controller);
      },
      untrack: (lock, controller) => {
        if (lock) this.held.delete(lock);
        else if (controller) this.unlocked.delete(controller);
      },
    };
  }

  /** The module's `keyPrefix`; `@WithUserLoadLock({ keyPrefix })` selects a registration by it. */
  get keyPrefix(): string {
    return this.core.options.keyPrefix;
  }

  /** Makes this service visible to `@WithUserLoadLock()` once the module is initialised. */
  onModuleInit(): void {
    loadLockServices.register(this);
  }

  /**
   * Takes the key's lock (in the load `name`) for `ttlMs` (default `lockTtlMs`) whatever the
   * loaded flag says. Resolves to the lock, or null while someone else holds it — or, with `waitForReplicas`, when
   * fewer replicas acknowledged it in time (it was given back unused; a `lock-unreplicated` event
   * says so). The lease is not extended for you.
   */
  async acquireLoadLock(
    key: string,
    ttlMsOrOptions?: number | AcquireLoadLockOptions,
  ): Promise<LoadLock | null> {
    const { ttlMs, name } = callOptions(ttlMsOrOptions);
    const user = this.core.user(key, name);
    const ttl = ttlMs === undefined ? this.core.options.lockTtlMs : checkDurationMs('ttlMs', ttlMs);
    this.core.assertOpen(user.id);
    const token = this.nextToken();
    const sentAt = performance.now();
    const result = await this.acquire(user.keys, token, { ttlMs: ttl, checkFlag: false });
    if (result.state !== 'acquired') return null;
    // Its reply came after the lease ran out (a failover held it up): not a lock any more.
    if (performance.now() - sentAt >= ttl) return null;
    this.forgetExpiredLocks();
    const lock = new HeldLoadLock(this.core, {
      userId: user.id,
      keys: user.keys,
      token,
      ttlMs: ttl,
      grant: { ...result, sentAt },
      onReleased: (l) => this.held.delete(l),
    });
    this.held.set(lock, undefined);
    lock.announce();
    return lock;
  }

  /**
   * A decorated method without `name` loads under `<Class>.<method>`: two different classes of
   * one name (or anonymous ones) would share that load, the silent share named loads exist to
   * prevent. The first class to use a default name in this registration owns it; another is
   * refused with `LoadStatusConfigError`, and nothing runs.
   */
  [CLAIM_DEFAULT_NAME](name: string, owner: object, decorator: string): void {
    const current = this.defaultNames.get(name);
    if (current === undefined) this.defaultNames.set(name, owner);
    else if (current !== owner) {
      throw new LoadStatusConfigError(
        decorator,
        `two different classes decorate a method whose default load name is ${JSON.stringify(name)} (two classes of one name, or anonymous ones), so they would share one flag; give each its own name`,
      );
    }
  }

  /** Releases `lock` if it is still ours (compare-token-and-delete). False: it was no longer ours. */
  async releaseLoadLock(lock: LoadLock): Promise<boolean> {
    return HeldLoadLock.assert(lock).release();
  }

  /**
   * Makes sure the key (a user id, or any key) is loaded in the load `options.name`, running
   * `loader` only if no one in the cluster has loaded it within `loadedTtlMs`. Other callers wait
   * for a notification (bounded by `waitTimeoutMs`) and resolve without running it. A loader error reaches the caller (and callers sharing its
   * flight in this process); the lock is released at once so the next call can load.
   */
  async ensureLoaded<T>(
    key: string,
    loader: Loader<T>,
    options: EnsureLoadedOptions = {},
  ): Promise<LoadOutcome<T>> {
    const settings = this.settings(options);
    const user = this.core.user(key, options.name);
    if (typeof loader !== 'function') {
      throw new LoadStatusConfigError(
        'loader',
        `expected a function, got ${describeValue(loader)}`,
      );
    }
    this.core.assertOpen(user.id);
    const { tag } = user.keys;
    if (this.core.nearCache?.cachedLoaded(tag, settings.refreshAheadMs)) return ALREADY_LOADED;
    const registering = this.core.registerLoad(user.load);
    if (registering) await registering;
    const running = this.flights.get(tag) as Promise<LoadOutcome<T>> | undefined;
    if (running) return this.join(user.id, user.keys, running, loader, settings);
    const flight = runFlight(this.host, user.id, user.keys, loader, settings).finally(() =>
      this.flights.delete(tag),
    );
    this.flights.set(tag, flight);
    return flight;
  }

  /** Releases every lock still held and aborts running loaders; pending waits end with a typed error. */
  async beforeApplicationShutdown(): Promise<void> {
    loadLockServices.unregister(this);
    this.core.beginShutdown();
    // A lock won by an acquire already in flight is given back by `acquire` itself.
    await Promise.allSettled([...this.acquiring]);
    for (const controller of this.unlocked) controller.abort(new LoadStatusShutdownError());
    const locks = [...this.held];
    for (const [lock, controller] of locks)
      controller?.abort(new LoadStatusShutdownError(lock.userId));
    await Promise.all(
      locks.map(async ([lock]) => {
        try {
          await lock.release();
        } catch (error) {
          this.core.logger.warn(
            `could not release the lock of user ${JSON.stringify(lock.userId)} at shutdown: ${errorText(error)}`,
          );
        }
      }),
    );
  }

  /** Closes the connections the module opened (borrowed clients stay open). */
  async onApplicationShutdown(): Promise<void> {
    loadLockServices.unregister(this);
    await this.core.close();
  }

  private settings(options: EnsureLoadedOptions): FlightSettings {
    if (typeof options !== 'object' || options === null) {
      throw new LoadStatusConfigError(
        'options',
        `expected an object, got ${describeValue(options)}`,
      );
    }
    const o = this.core.options;
    const loadedTtlMs =
      options.loadedTtlMs === undefined
        ? o.loadedTtlMs
        : checkDurationMs('loadedTtlMs', options.loadedTtlMs);
    return {
      loadedTtlMs,
      refreshAheadMs:
        options.refreshAheadMs !== undefined
          ? checkRefreshAheadMs('refreshAheadMs', options.refreshAheadMs, loadedTtlMs)
          : o.refreshAheadMs < loadedTtlMs
            ? o.refreshAheadMs
            : 0,
      lockTtlMs:
        options.lockTtlMs === undefined
          ? o.lockTtlMs
          : checkDurationMs('lockTtlMs', options.lockTtlMs, MIN_LOCK_TTL_MS),
      waitTimeoutMs:
        options.waitTimeoutMs === undefined
          ? o.waitTimeoutMs
          : checkDurationMs('waitTimeoutMs', options.waitTimeoutMs, 0),
      onWaitTimeout:
        options.onWaitTimeout === undefined
          ? o.onWaitTimeout
          : oneOf('onWaitTimeout', options.onWaitTimeout, ['throw', 'run']),
      outageGraceMs: o.outageGraceMs,
    };
  }

  /**
   * A caller sharing another call's flight in this process: it gets that flight's outcome (or
   * error), but waits no longer than its own `waitTimeoutMs`, then applies its `onWaitTimeout`.
   */
  private async join<T>(
    userId: string,
    keys: UserKeys,
    running: Promise<LoadOutcome<T>>,
    loader: Loader<T>,
    settings: FlightSettings,
  ): Promise<LoadOutcome<T>> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, settings.waitTimeoutMs, undefined);
    });
    try {
      const outcome = await Promise.race([running, expired]);
      if (outcome !== undefined) return joined(outcome);
    } finally {
      clearTimeout(timer);
    }
    return onTimeout(this.host, userId, keys, loader, settings, started);
  }

  /**
   * A refresh-ahead load under our lock, not awaited by anyone: its value goes nowhere; the flag's
   * TTL starts again when it succeeds. Shutdown aborts its signal and releases its lock, like any
   * running loader's.
   */
  private refreshInBackground(
    userId: string,
    keys: UserKeys,
    token: string,
    grant: AcquireResult & { state: 'acquired'; sentAt: number },
    loader: Loader<unknown>,
    settings: FlightSettings,
  ): void {
    const { events, logger } = this.core;
    const { fencingToken } = grant;
    const started = performance.now();
    events.emit({
      type: 'refresh-started',
      userId,
      load: keys.load,
      fencingToken,
      remainingMs: grant.refreshOf!,
    });
    runLocked(this.host, userId, keys, token, grant, loader, settings).then(
      () =>
        events.emit({
          type: 'refreshed',
          userId,
          load: keys.load,
          fencingToken,
          durationMs: Math.round(performance.now() - started),
        }),
      (error: unknown) => {
        if (error instanceof LoadStatusShutdownError) return;
        logger.warn(
          `refresh-ahead of user ${JSON.stringify(userId)} failed (${errorText(error)}); the flag runs out as usual`,
        );
        events.emit({
          type: 'refresh-failed',
          userId,
          load: keys.load,
          fencingToken,
          durationMs: Math.round(performance.now() - started),
          error,
        });
      },
    );
  }

  /** The store's acquire; a lock won after shutdown began is released at once. */
  private acquire(keys: UserKeys, token: string, request: AcquireRequest): Promise<AcquireResult> {
    const attempt = (async (): Promise<AcquireResult> => {
      const result = await this.core.store.acquire(keys, token, request);
      if (result.state === 'unreplicated')
        this.core.events.emit({
          type: 'lock-unreplicated',
          userId: decodeUserTag(keys.tag),
          load: keys.load,
          acks: result.acks,
          replicas: result.replicas,
        });
      if (result.state !== 'acquired' || !this.core.isClosing) return result;
      try {
        await this.core.store.release(keys, token);
      } catch (error) {
        this.core.logger.warn(
          `could not give back a lock won during shutdown: ${errorText(error)}`,
        );
      }
      throw new LoadStatusShutdownError(decodeUserTag(keys.tag));
    })();
    this.acquiring.add(attempt);
    const forget = (): void => void this.acquiring.delete(attempt);
    attempt.then(forget, forget);
    return attempt;
  }

  /** Locks from `acquireLoadLock` whose lease ran out without a release need no tracking. */
  private forgetExpiredLocks(): void {
    // A sweep per acquire would cost every lock cycle a walk over the held locks.
    if (++this.acquiresSinceSweep < SWEEP_HELD_EVERY) return;
    this.acquiresSinceSweep = 0;
    const now = performance.now();
    for (const [lock, controller] of this.held) {
      if (controller === undefined && lock.leaseEndsAt <= now) this.held.delete(lock);
    }
  }

  private nextToken(): string {
    return `${this.core.instanceId}:${++this.sequence}`;
  }
}

/** Locks from `acquireLoadLock` whose lease ran out are forgotten every this many acquires. */
const SWEEP_HELD_EVERY = 64;

function joined<T>(outcome: LoadOutcome<T>): LoadOutcome<T> {
  return outcome.status === 'loaded' ? { ...outcome, shared: true } : outcome;
}
