import type { LoadStatusCore } from './load-status.core';
import { RESET } from './internal';
import { NoticeKind } from './keys';
import { callOptions, checkDurationMs, checkLoadName, type LoadNameOption } from './validation';
import { describeValue, LoadStatusConfigError } from './errors';

/** Extra life of a "waiting" mark beyond the next re-check, for timers that fire late. */
const MARK_SLACK_MS = 1_000;

/** Options of {@link LoadFlags.setLoaded} (a number alone is `ttlMs`). */
export interface SetLoadedOptions extends LoadNameOption {
  /** @default the module's `loadedTtlMs` */
  ttlMs?: number;
}

/** Options of {@link LoadFlags.waitForLoad}. */
export interface WaitForLoadOptions extends LoadNameOption {
  /**
   * How long to wait, in ms.
   * @default the module's `waitTimeoutMs`
   */
  timeoutMs?: number;
  /** Aborting rejects the wait at once with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * The per-key "loaded" flags, one per (load, key). A flag lives `loadedTtlMs` (keep it equal to
 * the TTL of the data it guards); setting or clearing it notifies every process.
 */
export class LoadFlags {
  constructor(private readonly core: LoadStatusCore) {}

  /**
   * True while the flag of `key` (a user id, or any key) in the load `name` is set. Throws
   * `InvalidUserIdError` for a bad key.
   */
  async isLoaded(key: string, options?: LoadNameOption): Promise<boolean> {
    const user = this.core.user(key, nameOf(options));
    this.core.assertOpen(user.id);
    // Hot path: a near-cache hit answers without a round trip (or another async step).
    if (this.core.nearCache?.cachedLoaded(user.keys.tag)) return true;
    return (await this.core.store.flagTtl(user.keys)) !== undefined;
  }

  /**
   * Marks the key loaded (in the load `name`) for `ttlMs` and wakes everyone waiting for it.
   * @param ttlMsOrOptions `ttlMs` (default: the module's `loadedTtlMs`), or `{ ttlMs, name }`
   */
  async setLoaded(key: string, ttlMsOrOptions?: number | SetLoadedOptions): Promise<void> {
    const { ttlMs, name } = callOptions(ttlMsOrOptions);
    const user = this.core.user(key, name);
    const ttl =
      ttlMs === undefined ? this.core.options.loadedTtlMs : checkDurationMs('ttlMs', ttlMs);
    this.core.assertOpen(user.id);
    const registering = this.core.registerLoad(user.load);
    if (registering) await registering;
    await this.core.store.setLoaded(user.keys, ttl);
  }

  /**
   * Removes the flag of the key in the load `name` (call it when that data changes); the next
   * `ensureLoaded` of that load loads again.
   */
  async clearLoaded(key: string, options?: LoadNameOption): Promise<void> {
    const user = this.core.user(key, nameOf(options));
    this.core.assertOpen(user.id);
    await this.core.store.clearLoaded(user.keys);
  }

  /**
   * Makes every key of this module's `keyPrefix` not loaded, in every load (or, with `name`, in
   * that load only), in every process (near-caches are dropped by a notice, within notification
   * latency); each then loads once on its next call.
   *
   * Every load: loads running meanwhile set no flag (their waiters load again). O(1) in the
   * number of keys: each of 256 key groups keeps a generation that flags must match, and this
   * moves each one on (one single-key script per group, so never cross-slot on a Cluster); old
   * flags expire with their TTL. Locks and fencing tokens are left alone, and so are other
   * prefixes.
   *
   * One load (`{ name }`): its flags are found and deleted (with Redis: SCAN and UNLINK on every
   * master, O(keys of the prefix)); a load of that name finishing meanwhile may still set its
   * flag. Not with flags in a cache-manager cache (a cache cannot be listed).
   *
   * It never falls back to the in-process store: with Redis unreachable it rejects with
   * `LoadStatusUnavailableError` under either policy (an invalidation must not be lost).
   */
  async clearAllLoaded(options?: LoadNameOption): Promise<void> {
    const name = nameOf(options);
    if (name !== undefined) checkLoadName('name', name);
    this.core.assertOpen();
    const started = performance.now();
    if (name === undefined) await this.core.store.clearAllLoaded();
    else await this.core.store.clearLoad(name);
    this.core.events.emit({
      type: 'all-cleared',
      ...(name === undefined ? {} : { load: name }),
      durationMs: Math.round(performance.now() - started),
    });
  }

  /**
   * Clears the key in every load: the unnamed one and every named one any process has loaded
   * or set (the store keeps a registry of load names, written before a load's first flag), and
   * every name this process knows. The "this user's data changed" call. Each load's flag goes as
   * `clearLoaded` takes it, with its notice; with Redis unreachable it rejects with
   * `LoadStatusUnavailableError` under either policy (the registry is not this process's alone).
   */
  async clearEveryLoad(key: string): Promise<void> {
    const user = this.core.user(key);
    this.core.assertOpen(user.id);
    const names = new Set([...(await this.core.store.loadNames()), ...this.core.knownLoads]);
    await Promise.all(
      [undefined, ...names].map((name) =>
        this.core.store.clearLoaded(this.core.keys.forLoad(name, user.id)),
      ),
    );
  }

  /** `resetLoadStatus()` of `nestjs-load-status/testing`; not part of the production surface. */
  async [RESET](): Promise<void> {
    this.core.assertOpen();
    await this.core.store.reset();
    this.core.forgetRegisteredLoads();
  }

  /**
   * Waits until the user is loaded. Woken by a notification within milliseconds of `setLoaded`
   * or a finished load in any process; re-checks every `pollIntervalMs` in case a notification
   * was lost. Resolves true once loaded, false at the timeout; rejects with `signal.reason` on
   * abort and with `LoadStatusShutdownError` when the module shuts down.
   */
  async waitForLoad(key: string, options: WaitForLoadOptions = {}): Promise<boolean> {
    const user = this.core.user(key, nameOf(options));
    const timeoutMs =
      options.timeoutMs === undefined
        ? this.core.options.waitTimeoutMs
        : checkDurationMs('timeoutMs', options.timeoutMs, 0);
    const signal = options.signal;
    signal?.throwIfAborted();
    this.core.assertOpen(user.id);
    const deadline = performance.now() + timeoutMs;
    const waiter = this.core.waiters.watch(user.keys.tag);
    try {
      for (;;) {
        waiter.arm();
        // Marks the user as waited on, so a load finishing in another process notifies us.
        const watchMs = 2 * this.core.options.pollIntervalMs + MARK_SLACK_MS;
        if ((await this.core.store.flagTtl(user.keys, watchMs)) !== undefined) return true;
        signal?.throwIfAborted();
        const remaining = deadline - performance.now();
        if (remaining <= 0) return false;
        const reason = await waiter.wait(
          Math.min(remaining, this.core.options.pollIntervalMs),
          signal,
        );
        if (reason === NoticeKind.Loaded) return true;
      }
    } finally {
      waiter.dispose();
    }
  }
}

/** The `name` of a call's options object (none: the unnamed load; no object is made per call). */
function nameOf(options: LoadNameOption | undefined): string | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) {
    throw new LoadStatusConfigError('options', `expected an object, got ${describeValue(options)}`);
  }
  return options.name;
}
