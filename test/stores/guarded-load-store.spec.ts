/**
 * The store-error policy as a unit: `GuardedLoadStore` over a primary store the test switches
 * between answering, failing as an outage would (`ECONNREFUSED`), refusing as Redis does
 * (`NOPERM`, `WRONGPASS`) and never answering. The flow and topology specs show the policy end to
 * end against real servers; these are its own rules, found by mutation testing (they survived
 * every other in-process spec): which operation an error names, when the store counts as degraded
 * and recovered and what is logged and emitted then, which locks the fallback keeps after Redis is
 * back, what a load finished under a fallback lock writes to Redis, and how a boot fails.
 */
import { Logger } from '@nestjs/common';
import { setImmediate as delivered } from 'node:timers/promises';
import type { Subscription } from 'rxjs';
import {
  LoadStatusConfigError,
  LoadStatusRejectedError,
  LoadStatusUnavailableError,
  StoreUnreachableError,
} from '../../src/errors';
import { KeyBuilder, NoticeKind, type UserKeys } from '../../src/keys';
import type { OnStoreError } from '../../src/load-status.options';
import { LoadStatusEvents, type LoadStatusEvent } from '../../src/load-status.events';
import { GuardedLoadStore } from '../../src/stores/guarded-load-store';
import type {
  AcquireResult,
  FinishResult,
  LoadStore,
  RemoteLoadStore,
  StoreListener,
  StoreNotice,
} from '../../src/stores/load-store';
import { MemoryLoadStore } from '../../src/stores/memory-load-store';
import { classifyRedisError, type StoreFailure } from '../../src/stores/redis/redis-errors';
import { failure, refused } from '../support/failures';

type Fault = Error | 'hang';

/**
 * A primary store backed by memory, failing every command while `fault` is set with the errors a
 * Redis client gives (and classifying them as the Redis store does).
 */
class ScriptedStore implements RemoteLoadStore {
  readonly kind = 'redis' as const;
  readonly isDegraded = false;
  readonly notificationsLive = true;
  readonly rejection = undefined;
  readonly notices = { mode: 'classic' } as const;
  /** What Redis holds. */
  readonly inner = new MemoryLoadStore('primary');
  fault: Fault | undefined;
  /** Every command the guard sent, by method name, with its arguments. */
  readonly calls: Array<{ readonly method: string; readonly args: readonly unknown[] }> = [];
  closed = false;
  readonly bootRejection?: () => StoreFailure | undefined;
  readonly classify = classifyRedisError;

  constructor(bootRejection?: StoreFailure) {
    if (bootRejection !== undefined) this.bootRejection = () => bootRejection;
  }

  init(listener: StoreListener): Promise<void> {
    return this.gate('init', [], () => this.inner.init(listener));
  }
  flagTtl(user: UserKeys): Promise<number | undefined> {
    return this.gate('flagTtl', [user], () => this.inner.flagTtl(user));
  }
  setLoaded(user: UserKeys, ttlMs: number): Promise<void> {
    return this.gate('setLoaded', [user, ttlMs], () => this.inner.setLoaded(user, ttlMs));
  }
  clearLoaded(user: UserKeys): Promise<void> {
    return this.gate('clearLoaded', [user], () => this.inner.clearLoaded(user));
  }
  clearAllLoaded(): Promise<void> {
    return this.gate('clearAllLoaded', [], () => this.inner.clearAllLoaded());
  }
  clearLoad(name: string): Promise<void> {
    return this.gate('clearLoad', [name], () => this.inner.clearLoad(name));
  }
  registerLoad(name: string): Promise<void> {
    return this.gate('registerLoad', [name], () => this.inner.registerLoad(name));
  }
  loadNames(): Promise<string[]> {
    return this.gate('loadNames', [], () => this.inner.loadNames());
  }
  acquire(...args: Parameters<LoadStore['acquire']>): Promise<AcquireResult> {
    return this.gate('acquire', args, () => this.inner.acquire(...args));
  }
  extend(user: UserKeys, token: string, ttlMs: number): Promise<boolean> {
    return this.gate('extend', [user, token], () => this.inner.extend(user, token, ttlMs));
  }
  release(user: UserKeys, token: string): Promise<boolean> {
    return this.gate('release', [user, token], () => this.inner.release(user, token));
  }
  finish(...args: Parameters<LoadStore['finish']>): Promise<FinishResult> {
    return this.gate('finish', args, () => this.inner.finish(...args));
  }
  finishLock(user: UserKeys, token: string): Promise<boolean> {
    return this.gate('finishLock', [user, token], () => this.inner.finishLock(user, token));
  }
  publish(kind: NoticeKind, user: UserKeys): Promise<void> {
    return this.gate('publish', [kind, user], () => this.inner.publish(kind, user));
  }
  reset(): Promise<void> {
    return this.inner.reset();
  }
  ping(): Promise<void> {
    return this.gate('ping', [], () => this.inner.ping());
  }
  close(): Promise<void> {
    this.closed = true;
    return this.inner.close();
  }

  /** The methods the guard called, in order. */
  sent(): string[] {
    return this.calls.map((c) => c.method);
  }

  private gate<T>(method: string, args: readonly unknown[], run: () => Promise<T>): Promise<T> {
    this.calls.push({ method, args });
    const fault = this.fault;
    if (fault === 'hang') return new Promise<T>(() => undefined);
    if (fault !== undefined) return Promise.reject(fault);
    return run();
  }
}

const noPerm = () => new Error("NOPERM User app has no permissions to run the 'evalsha' command");
const wrongPass = () => new Error('WRONGPASS invalid username-password pair or user is disabled.');
const NOPERM_FIX =
  'the ACL user lacks a permission the module needs: grant the rule in the README, "Least-privilege ACL user"';

describe('GuardedLoadStore', () => {
  const keys = new KeyBuilder('guarded-unit');
  const user = (n = 1): UserKeys => keys.forUser(`user-${n}`);
  let primary: ScriptedStore;
  let guard: GuardedLoadStore;
  let events: LoadStatusEvent[];
  let subscription: Subscription | undefined;
  let notices: StoreNotice[];
  let warn: jest.SpyInstance;
  let log: jest.SpyInstance;
  let error: jest.SpyInstance;
  const listener: StoreListener = { notice: (n) => notices.push(n), resubscribed() {} };

  beforeEach(() => {
    events = [];
    notices = [];
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    error = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(async () => {
    subscription?.unsubscribe();
    subscription = undefined;
    await guard.close();
    jest.restoreAllMocks();
  });

  interface GuardOptions {
    timeoutMs?: number;
    instanceId?: string;
    withEvents?: boolean;
    bootRejection?: StoreFailure;
  }

  /** A guard over a fresh primary, not booted; events are recorded unless `withEvents` is false. */
  function build(policy: OnStoreError, options: GuardOptions = {}): void {
    primary = new ScriptedStore(options.bootRejection);
    let stream: LoadStatusEvents | undefined;
    if (options.withEvents !== false) {
      stream = new LoadStatusEvents('unit');
      subscription = stream.events$.subscribe((e) => events.push(e));
    }
    guard = new GuardedLoadStore(primary, {
      onStoreError: policy,
      commandTimeoutMs: options.timeoutMs ?? 1_000,
      events: stream,
      instanceId: options.instanceId,
    });
  }

  /** {@link build}, then booted. */
  async function boot(policy: OnStoreError, options: GuardOptions = {}): Promise<void> {
    build(policy, options);
    await guard.init(listener);
  }

  const messages = (spy: jest.SpyInstance) => spy.mock.calls.map((call: unknown[]) => call[0]);
  const of = (type: LoadStatusEvent['type']) =>
    events.filter((e) => e.type === type).map((e) => ('operation' in e ? e.operation : e.type));

  describe('fail-closed', () => {
    it('fails every command Redis cannot answer with the operation named, and warns once', async () => {
      await boot('fail-closed');
      primary.fault = refused();
      const commands: Array<[string, () => Promise<unknown>]> = [
        ['isLoaded', () => guard.flagTtl(user())],
        ['setLoaded', () => guard.setLoaded(user(), 5_000)],
        ['clearLoaded', () => guard.clearLoaded(user())],
        ['clearAllLoaded', () => guard.clearAllLoaded()],
        ['clearLoad', () => guard.clearLoad('profile')],
        ['registerLoad', () => guard.registerLoad('profile')],
        ['loadNames', () => guard.loadNames()],
        ['acquire', () => guard.acquire(user(), 't', { ttlMs: 5_000, checkFlag: true })],
        ['extend', () => guard.extend(user(), 't', 5_000)],
        ['release', () => guard.release(user(), 't')],
        ['finish', () => guard.finish(user(), 't', { loadedTtlMs: 5_000 })],
        ['finish', () => guard.finishLock(user(), 't')],
        ['publish', () => guard.publish(NoticeKind.Loaded, user())],
      ];
      const errors: Error[] = [];
      for (const [, command] of commands) errors.push(await failure(command()));

      // A caller that does not ride out outages (the default) is told the store is unavailable.
      expect(errors.map((e) => e.constructor)).toEqual(
        commands.map(() => LoadStatusUnavailableError),
      );
      expect(errors.map((e) => (e as LoadStatusUnavailableError).operation)).toEqual(
        commands.map(([operation]) => operation),
      );
      expect(errors[0]?.message).toBe(
        'Load status store unavailable during isLoaded: connect ECONNREFUSED 127.0.0.1:1. ' +
          "Check that Redis is reachable, or set onStoreError: 'fail-open' to degrade to in-process coordination.",
      );
      expect(of('store-error')).toEqual(commands.map(([operation]) => operation));
      expect(events.map((e) => (e.type === 'store-error' ? e.kind : e.type))).toEqual(
        commands.map(() => 'unreachable'),
      );
      expect(guard.isDegraded).toBe(true);
      expect(guard.rejection).toBeUndefined();
      expect(messages(warn)).toEqual([
        'store error during isLoaded (connect ECONNREFUSED 127.0.0.1:1); calls fail until it answers',
      ]);
      expect((warn.mock.contexts[0] as { context?: string }).context).toBe('LoadStatus');
      expect(messages(error)).toEqual([]);
    });

    it('recovers on the first command Redis answers: one log and one store-recovered event naming it', async () => {
      await boot('fail-closed');
      expect(guard.isDegraded).toBe(false);
      primary.fault = refused();
      await failure(guard.flagTtl(user()));
      primary.fault = undefined;

      await guard.setLoaded(user(), 5_000);
      expect(guard.isDegraded).toBe(false);
      await expect(guard.flagTtl(user())).resolves.toBeGreaterThan(4_000);
      expect(messages(log)).toEqual(['store reachable again; coordination is cluster-wide again']);
      expect((log.mock.contexts[0] as { context?: string }).context).toBe('LoadStatus');
      expect(of('store-recovered')).toEqual(['setLoaded']);

      // The next outage is a new one: warned again.
      primary.fault = refused();
      await failure(guard.clearLoaded(user()));
      expect(messages(warn)).toHaveLength(2);
      expect(messages(warn)[1]).toMatch(/^store error during clearLoaded /);
    });

    it('bounds every command by commandTimeoutMs, naming the operation and the bound', async () => {
      await boot('fail-closed', { timeoutMs: 40 });
      primary.fault = 'hang';
      const timedOut = await failure(guard.acquire(user(), 't', { ttlMs: 5_000, checkFlag: true }));
      expect(timedOut).toBeInstanceOf(LoadStatusUnavailableError);
      expect(timedOut).toMatchObject({ operation: 'acquire' });
      expect(timedOut.message).toContain('during acquire: no reply within 40 ms');
      expect(of('store-error')).toEqual(['acquire']);
      // The health check's ping, which bypasses the policy, is bounded too.
      const pinged = await failure(guard.ping());
      expect(pinged).toBeInstanceOf(LoadStatusUnavailableError);
      expect(pinged).toMatchObject({ operation: 'ping' });
      expect(pinged.message).toContain('during ping: no reply within 40 ms');
    });
  });

  describe('fail-open', () => {
    it('serves calls from memory during an outage, warning once that it degrades', async () => {
      await boot('fail-open', { instanceId: 'inst-1' });
      primary.fault = refused();

      await guard.setLoaded(user(1), 5_000);
      await expect(guard.flagTtl(user(1))).resolves.toBeGreaterThan(4_000);
      const granted = await guard.acquire(user(2), 'a', { ttlMs: 5_000, checkFlag: true });
      expect(granted).toMatchObject({ state: 'acquired', incarnation: 'fallback:inst-1' });
      await expect(
        guard.acquire(user(2), 'b', { ttlMs: 5_000, checkFlag: true }),
      ).resolves.toMatchObject({
        state: 'held',
        holder: 'a',
      });
      await guard.publish(NoticeKind.Released, user(3));
      await delivered();
      expect(notices).toContainEqual({ kind: NoticeKind.Released, tag: user(3).tag });

      expect(guard.isDegraded).toBe(true);
      expect(messages(warn)).toEqual([
        'store error during setLoaded (connect ECONNREFUSED 127.0.0.1:1); degrading to in-process coordination',
      ]);
      expect(of('store-error')).toEqual(['setLoaded', 'isLoaded', 'acquire', 'acquire', 'publish']);
    });

    it('never serves what memory cannot stand in for: an invalidation, a Redis lease, a ping', async () => {
      await boot('fail-open');
      const redisLease = await guard.acquire(user(), 'r', { ttlMs: 5_000, checkFlag: true });
      expect(redisLease).toMatchObject({ state: 'acquired', incarnation: 'primary' });
      primary.fault = refused();

      await expect(guard.clearAllLoaded()).rejects.toMatchObject({ operation: 'clearAllLoaded' });
      // A load's names and its invalidation are every process's: memory cannot stand in.
      await expect(guard.clearLoad('profile')).rejects.toMatchObject({ operation: 'clearLoad' });
      await expect(guard.registerLoad('profile')).rejects.toMatchObject({
        operation: 'registerLoad',
      });
      await expect(guard.loadNames()).rejects.toMatchObject({ operation: 'loadNames' });
      await expect(guard.extend(user(), 'r', 5_000)).rejects.toMatchObject({ operation: 'extend' });
      await expect(guard.ping()).rejects.toThrow('connect ECONNREFUSED 127.0.0.1:1');
      // The one warning names the policy, though the call that gave it was not served.
      expect(messages(warn)).toEqual([
        'store error during clearAllLoaded (connect ECONNREFUSED 127.0.0.1:1); degrading to in-process coordination',
      ]);
      // The lease is Redis's still: nothing was written in its place.
      primary.fault = undefined;
      await expect(primary.inner.extend(user(), 'r', 5_000)).resolves.toBe(true);
    });

    it('clears a load in memory too, so an outage leaves no flag of it that Redis lost', async () => {
      await boot('fail-open');
      primary.fault = refused();
      const profile = keys.forLoad('profile', 'user-1');
      await guard.setLoaded(profile, 5_000); // served by memory
      await guard.setLoaded(user(1), 5_000);
      await expect(guard.clearLoad('profile')).rejects.toMatchObject({ operation: 'clearLoad' });
      await expect(guard.flagTtl(profile)).resolves.toBeUndefined();
      await expect(guard.flagTtl(user(1))).resolves.toBeGreaterThan(4_000);
    });

    it('names the fallback leases after the instance, "unknown" without one', async () => {
      await boot('fail-open');
      primary.fault = refused();
      await expect(
        guard.acquire(user(), 'a', { ttlMs: 5_000, checkFlag: true }),
      ).resolves.toMatchObject({
        state: 'acquired',
        incarnation: 'fallback:unknown',
      });
    });

    it('keeps a lock the fallback issued in the fallback after Redis is back', async () => {
      await boot('fail-open');
      primary.fault = refused();
      for (const [n, token] of [
        [1, 'e'],
        [2, 'l'],
      ] as const) {
        expect(
          await guard.acquire(user(n), token, { ttlMs: 5_000, checkFlag: true }),
        ).toMatchObject({
          incarnation: 'fallback:unknown',
        });
      }
      primary.fault = undefined;
      primary.calls.length = 0;

      await expect(guard.extend(user(1), 'e', 5_000)).resolves.toBe(true);
      await expect(guard.release(user(1), 'e')).resolves.toBe(true);
      await expect(guard.finishLock(user(2), 'l')).resolves.toBe(true);
      expect(primary.sent()).toEqual([]);
      // Given back: the token is the fallback's no more, and Redis never knew it.
      await expect(guard.release(user(1), 'e')).resolves.toBe(false);
      await expect(guard.finishLock(user(2), 'l')).resolves.toBe(false);
      expect(primary.sent()).toEqual(['release', 'finishLock']);
    });

    it('keeps no token the fallback did not grant (a waiter re-checking through an outage adds none)', async () => {
      await boot('fail-open');
      primary.fault = refused();
      await guard.acquire(user(), 'holder', { ttlMs: 5_000, checkFlag: true });
      for (let i = 0; i < 50; i++)
        expect(
          await guard.acquire(user(), `waiter-${i}`, { ttlMs: 5_000, checkFlag: true }),
        ).toMatchObject({
          state: 'held',
        });
      await guard.setLoaded(user(2), 5_000);
      expect(await guard.acquire(user(2), 'late', { ttlMs: 5_000, checkFlag: true })).toMatchObject(
        { state: 'loaded' },
      );
      // Memory held, not answers: the set of fallback tokens is private.
      expect([...(guard as unknown as { fallbackTokens: Set<string> }).fallbackTokens]).toEqual([
        'holder',
      ]);
    });

    it('extends, releases and finishes in Redis the locks Redis granted', async () => {
      await boot('fail-open');
      for (const [n, token] of [
        [1, 'r'],
        [2, 'f'],
      ] as const) {
        expect(
          await guard.acquire(user(n), token, { ttlMs: 5_000, checkFlag: true }),
        ).toMatchObject({
          incarnation: 'primary',
        });
      }
      await expect(guard.extend(user(1), 'r', 5_000)).resolves.toBe(true);
      await expect(guard.release(user(1), 'r')).resolves.toBe(true);
      await expect(guard.finishLock(user(2), 'f')).resolves.toBe(true);
      // Both locks are gone from Redis.
      for (const n of [1, 2])
        expect(
          await primary.inner.acquire(user(n), 'x', { ttlMs: 5_000, checkFlag: true }),
        ).toMatchObject({
          state: 'acquired',
        });
    });

    it('sets the flag in Redis for a load finished under a fallback lock once Redis answers', async () => {
      await boot('fail-open');
      primary.fault = refused();
      await guard.acquire(user(), 'f', { ttlMs: 5_000, checkFlag: true });
      primary.fault = undefined;
      primary.calls.length = 0;

      await expect(guard.finish(user(), 'f', { loadedTtlMs: 5_000 })).resolves.toEqual({
        owned: true,
        committed: true,
      });
      await expect(primary.inner.flagTtl(user())).resolves.toBeGreaterThan(4_000);
      // The lock was the fallback's: only the flag went to Redis.
      expect(primary.sent()).toEqual(['setLoaded']);
      // That write was the first Redis answered.
      expect(of('store-recovered')).toEqual(['setLoaded']);
      expect(guard.isDegraded).toBe(false);
    });

    it('keeps the flag of a fallback-lock load in memory while Redis is still down', async () => {
      await boot('fail-open');
      primary.fault = refused();
      await guard.acquire(user(), 'f', { ttlMs: 5_000, checkFlag: true });
      await expect(guard.finish(user(), 'f', { loadedTtlMs: 5_000 })).resolves.toEqual({
        owned: true,
        committed: true,
      });
      await expect(guard.flagTtl(user())).resolves.toBeGreaterThan(4_000);
      expect(of('store-error')).toEqual(['acquire', 'setLoaded', 'isLoaded']);
    });

    it('writes nothing to Redis for a fallback-lock load that a clearAllLoaded overtook, or one with TTL 0', async () => {
      await boot('fail-open');
      primary.fault = refused();
      const overtaken = await guard.acquire(user(1), 'c', { ttlMs: 5_000, checkFlag: true });
      await guard.acquire(user(2), 'z', { ttlMs: 5_000, checkFlag: true });
      primary.fault = undefined;
      await guard.clearAllLoaded();
      primary.calls.length = 0;

      const generation = overtaken.state === 'acquired' ? overtaken.generation : 'none';
      await expect(guard.finish(user(1), 'c', { loadedTtlMs: 5_000, generation })).resolves.toEqual(
        {
          owned: true,
          committed: false,
        },
      );
      await expect(guard.finish(user(2), 'z', { loadedTtlMs: 0 })).resolves.toEqual({
        owned: true,
        committed: true,
      });
      expect(primary.sent()).toEqual([]);
      await expect(primary.inner.flagTtl(user(1))).resolves.toBeUndefined();
    });

    it("serves a finish Redis cannot answer with the fallback's own generation, not Redis's", async () => {
      await boot('fail-open');
      // Redis's generation moves on apart from the fallback's.
      await primary.inner.clearAllLoaded();
      await primary.inner.clearAllLoaded();
      const lease = await guard.acquire(user(), 'r', { ttlMs: 5_000, checkFlag: true });
      expect(lease).toMatchObject({ state: 'acquired', generation: '3' });
      primary.fault = refused();

      await expect(
        guard.finish(user(), 'r', { loadedTtlMs: 5_000, generation: '3' }),
      ).resolves.toMatchObject({
        committed: true,
      });
      await expect(guard.flagTtl(user())).resolves.toBeGreaterThan(4_000);
      // Redis was asked with its own generation.
      expect(primary.calls.find((c) => c.method === 'finish')?.args[2]).toMatchObject({
        generation: '3',
      });
    });

    it('lets a caller that rides out outages retry instead: StoreUnreachableError, degraded until Redis answers', async () => {
      await boot('fail-open');
      primary.fault = refused();
      const acquiring = await failure(
        guard.acquire(user(), 't', { ttlMs: 5_000, checkFlag: true, rideOut: true }),
      );
      const finishing = await failure(
        guard.finish(user(), 't', { loadedTtlMs: 5_000, rideOut: true }),
      );
      expect([acquiring, finishing].map((e) => e.constructor)).toEqual([
        StoreUnreachableError,
        StoreUnreachableError,
      ]);
      expect([acquiring, finishing]).toMatchObject([
        { operation: 'acquire' },
        { operation: 'finish' },
      ]);
      expect(guard.isDegraded).toBe(true);
      // Neither served from memory (no fallback lock was taken) nor the policy's warning yet.
      expect(messages(warn)).toEqual([]);
      // The policy applies to the first caller that does not ride the outage out: warned then.
      await expect(
        guard.acquire(user(), 'o', { ttlMs: 5_000, checkFlag: true }),
      ).resolves.toMatchObject({
        state: 'acquired',
        incarnation: 'fallback:unknown',
      });
      expect(messages(warn)).toEqual([
        'store error during acquire (connect ECONNREFUSED 127.0.0.1:1); degrading to in-process coordination',
      ]);
      await guard.release(user(), 'o');

      primary.fault = undefined;
      await expect(
        guard.acquire(user(), 't', { ttlMs: 5_000, checkFlag: true, rideOut: true }),
      ).resolves.toMatchObject({
        incarnation: 'primary',
      });
      expect(of('store-recovered')).toEqual(['acquire']);
      expect(messages(log)).toEqual(['store reachable again; coordination is cluster-wide again']);
    });

    it('works without an events stream', async () => {
      await boot('fail-open', { withEvents: false });
      primary.fault = refused();
      await guard.setLoaded(user(), 5_000);
      primary.fault = noPerm();
      await expect(guard.flagTtl(user())).rejects.toBeInstanceOf(LoadStatusRejectedError);
      primary.fault = undefined;
      await expect(guard.flagTtl(user())).resolves.toBeUndefined();
      expect(guard.isDegraded).toBe(false);
    });
  });

  describe('rejections', () => {
    it('fails a command Redis refuses under either policy, logs each reason once, and clears it when Redis accepts again', async () => {
      await boot('fail-open');
      primary.fault = noPerm();
      const refusedAcquire = await failure(
        guard.acquire(user(), 't', { ttlMs: 5_000, checkFlag: true }),
      );
      expect(refusedAcquire).toBeInstanceOf(LoadStatusRejectedError);
      expect(refusedAcquire).toMatchObject({
        operation: 'acquire',
        reason: 'NOPERM',
        fix: NOPERM_FIX,
      });
      await expect(guard.flagTtl(user())).rejects.toMatchObject({
        operation: 'isLoaded',
        reason: 'NOPERM',
      });
      expect(guard.rejection).toMatchObject({ kind: 'rejected', reason: 'NOPERM' });
      // A refusal is not an outage: not degraded, nothing served from memory.
      expect(guard.isDegraded).toBe(false);
      expect(messages(warn)).toEqual([]);
      expect(events.map((e) => (e.type === 'store-error' ? e.kind : e.type))).toEqual([
        'rejected',
        'rejected',
      ]);
      expect(messages(error)).toEqual([
        `Redis rejected acquire (NOPERM: ${noPerm().message}); ${NOPERM_FIX}`,
      ]);
      expect((error.mock.contexts[0] as { context?: string }).context).toBe('LoadStatus');

      primary.fault = wrongPass();
      await expect(guard.setLoaded(user(), 5_000)).rejects.toMatchObject({ reason: 'WRONGPASS' });
      expect(messages(error)).toHaveLength(2);
      expect(messages(error)[1]).toMatch(/^Redis rejected setLoaded \(WRONGPASS: /);

      primary.fault = undefined;
      await guard.setLoaded(user(), 5_000);
      await guard.flagTtl(user());
      expect(guard.rejection).toBeUndefined();
      expect(messages(log)).toEqual(['Redis accepts the module again']);
      expect(of('store-recovered')).toEqual([]);
    });

    it('logs nothing on commands that work when nothing was refused', async () => {
      await boot('fail-closed');
      await guard.setLoaded(user(), 5_000);
      await guard.flagTtl(user());
      expect(messages(log)).toEqual([]);
      expect(events).toEqual([]);
    });
  });

  describe('what it passes through', () => {
    it("answers the primary's kind, notice path and notification state", async () => {
      await boot('fail-closed');
      expect([guard.kind, guard.notices, guard.notificationsLive]).toEqual([
        'redis',
        { mode: 'classic' },
        true,
      ]);
    });

    it('sends invalidations and the load registry to the primary while it answers', async () => {
      await boot('fail-closed');
      const profile = keys.forLoad('profile', 'user-1');
      await primary.inner.setLoaded(user(1), 5_000);
      await primary.inner.setLoaded(profile, 5_000);
      await guard.clearLoaded(user(1));
      await guard.clearLoad('profile');
      await guard.registerLoad('profile');
      await expect(guard.loadNames()).resolves.toEqual(['profile']);
      expect(primary.calls.slice(-4)).toEqual([
        { method: 'clearLoaded', args: [user(1)] },
        { method: 'clearLoad', args: ['profile'] },
        { method: 'registerLoad', args: ['profile'] },
        { method: 'loadNames', args: [] },
      ]);
      await expect(primary.inner.flagTtl(user(1))).resolves.toBeUndefined();
      await expect(primary.inner.flagTtl(profile)).resolves.toBeUndefined();
    });

    it('resets both the primary and the memory that stood in for it', async () => {
      await boot('fail-open');
      await guard.setLoaded(user(1), 5_000);
      primary.fault = refused();
      await guard.setLoaded(user(2), 5_000); // served by memory
      primary.fault = undefined;
      await guard.reset();
      await expect(primary.inner.flagTtl(user(1))).resolves.toBeUndefined();
      primary.fault = refused();
      await expect(guard.flagTtl(user(2))).resolves.toBeUndefined();
    });
  });

  describe('start-up', () => {
    it.each<OnStoreError>(['fail-open', 'fail-closed'])(
      'boots under %s with a warning when Redis is unreachable',
      async (policy) => {
        build(policy);
        primary.fault = refused();
        await guard.init(listener);
        expect(messages(warn)).toEqual([
          `store not reachable at start-up (connect ECONNREFUSED 127.0.0.1:1); onStoreError is '${policy}'`,
        ]);
        expect(primary.closed).toBe(false);
      },
    );

    it('boots with a warning naming the connect that did not answer within commandTimeoutMs', async () => {
      build('fail-open', { timeoutMs: 40 });
      primary.fault = 'hang';
      await guard.init(listener);
      expect(messages(warn)).toEqual([
        expect.stringContaining(
          'store not reachable at start-up (Load status store unavailable during connect: no reply within 40 ms.',
        ),
      ]);
    });

    it('fails the boot when Redis refuses the connection, and closes what it opened', async () => {
      build('fail-open');
      primary.fault = noPerm();
      const boot = await failure(guard.init(listener));
      expect(boot).toBeInstanceOf(LoadStatusConfigError);
      expect(boot).toMatchObject({ option: 'redis' });
      expect(boot.cause).toBeInstanceOf(LoadStatusRejectedError);
      expect(boot.cause).toMatchObject({
        operation: 'the connection',
        reason: 'NOPERM',
        fix: NOPERM_FIX,
      });
      expect(primary.closed).toBe(true);
      expect(messages(warn)).toEqual([]);
    });

    it('reports the refusal the connection saw over the error that ended the boot', async () => {
      build('fail-closed', {
        bootRejection: { kind: 'rejected', reason: 'closed right after it was opened' },
      });
      primary.fault = refused();
      const boot = await failure(guard.init(listener));
      expect(boot).toBeInstanceOf(LoadStatusConfigError);
      expect(boot).toMatchObject({ option: 'redis' });
      expect(boot.cause).toBeInstanceOf(LoadStatusRejectedError);
      expect(boot.cause).toMatchObject({
        operation: 'the connection',
        reason: 'closed right after it was opened',
        fix: '',
      });
      expect(primary.closed).toBe(true);
    });
  });
});
