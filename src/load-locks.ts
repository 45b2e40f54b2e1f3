import { describeValue, LoadStatusConfigError } from './errors';
import {
  ALREADY_LOADED,
  type FlightCall,
  type FlightSettings,
  type Loader,
  type LoadOutcome,
} from './flight';
import { Flights } from './flights';
import { runFlight } from './load-flow';
import { HeldLoadLock, type LoadLock } from './load-lock';
import type { LoadStatusCore } from './load-status.core';
import {
  callSettingsFor,
  type AcquireLoadLockOptions,
  type EnsureLoadedOptions,
} from './options/call-options';
import { CLAIM_DEFAULT_NAME, IN_FLIGHT } from './internal';
import { ServiceRegistry } from './service-registry';
import { callOptions, checkDurationMs } from './validation';
import { runUnlocked } from './unlocked-load';

/**
 * Token-owned locks and the load-once flow. `ensureLoaded` runs a loader at most once per key per
 * `loadedTtlMs` across every process sharing the store; concurrent callers in one process share
 * one flight, so the store sees one caller per process.
 */
/** The live services of this process, which `@WithUserLoadLock()` finds its own among. */
export const loadLockServices = new ServiceRegistry<LoadLocks>();

export class LoadLocks {
  private readonly flights: Flights;
  /** Default load names in use, and the class each belongs to (see `CLAIM_DEFAULT_NAME`). */
  private readonly defaultNames = new Map<string, object>();

  /** A call's settings: its options over the module's (see `callSettingsFor`). */
  private readonly settingsOf: (options: EnsureLoadedOptions) => FlightSettings;

  constructor(private readonly core: LoadStatusCore) {
    this.flights = new Flights(core);
    this.settingsOf = callSettingsFor(core.options);
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
    const token = this.flights.nextToken();
    const sentAt = performance.now();
    const result = await this.flights.acquire(user.keys, token, { ttlMs: ttl, checkFlag: false });
    if (result.state !== 'acquired') return null;
    // Its reply came after the lease ran out (a failover held it up): not a lock any more.
    if (performance.now() - sentAt >= ttl) return null;
    const lock = new HeldLoadLock(this.core, {
      userId: user.id,
      keys: user.keys,
      token,
      ttlMs: ttl,
      grant: { ...result, sentAt },
      onReleased: (l) => this.flights.released(l),
    });
    this.flights.holding(lock);
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

  /** What this service has under way in this process (the library's tests; see `IN_FLIGHT`). */
  [IN_FLIGHT](): Flights['counts'] {
    return this.flights.counts;
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
    const settings = this.settingsOf(options);
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
    const call: FlightCall<T> = { userId: user.id, keys: user.keys, loader, settings };
    const running = this.flights.running<T>(tag);
    if (running) return this.join(call, running);
    return this.flights.start(tag, runFlight(this.flights, call));
  }

  /** Releases every lock still held and aborts running loaders; pending waits end with a typed error. */
  async beforeApplicationShutdown(): Promise<void> {
    loadLockServices.unregister(this);
    this.core.beginShutdown();
    // A lock won by an acquire already in flight is given back by `acquire` itself.
    await this.flights.shutdown();
  }

  /** Closes the connections the module opened (borrowed clients stay open). */
  async onApplicationShutdown(): Promise<void> {
    loadLockServices.unregister(this);
    await this.core.close();
  }

  /**
   * A caller sharing another call's flight in this process: it gets that flight's outcome (or
   * error), but waits no longer than its own `waitTimeoutMs`, then applies its `onWaitTimeout`.
   */
  private async join<T>(
    call: FlightCall<T>,
    running: Promise<LoadOutcome<T>>,
  ): Promise<LoadOutcome<T>> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, call.settings.waitTimeoutMs, undefined);
    });
    try {
      const outcome = await Promise.race([running, expired]);
      if (outcome !== undefined) return joined(outcome);
    } finally {
      clearTimeout(timer);
    }
    return runUnlocked(this.flights, call, started);
  }
}

function joined<T>(outcome: LoadOutcome<T>): LoadOutcome<T> {
  return outcome.status === 'loaded' ? { ...outcome, shared: true } : outcome;
}
