import { nestLogger, type LoadStatusLogger } from './logger';
import { Observable, Subject } from 'rxjs';
import { errorText } from './errors';

/** Why a wait ended. */
export type WaitEndReason =
  /** The waiter was woken (release or lease expiry) and took the lock itself. */
  | 'woken'
  /** Another caller loaded the user. */
  | 'loaded-elsewhere'
  /** `waitTimeoutMs` ran out. */
  | 'timeout'
  /** The wait was aborted (signal, shutdown, store error). */
  | 'aborted';

/** Fields every event carries. */
export interface LoadStatusEventBase {
  /** `Date.now()` when the event was emitted. */
  readonly at: number;
  /** The module instance (one per process and registration) that emitted it. */
  readonly instanceId: string;
}

/** Everything `LoadStatusEvents.events$` emits, discriminated by `type`. */
export type LoadStatusEvent = LoadStatusEventBase &
  (
    | {
        readonly type: 'load-started';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
        readonly fencingToken: number | undefined;
      }
    | {
        readonly type: 'load-succeeded';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
        readonly fencingToken: number | undefined;
        readonly durationMs: number;
      }
    | {
        readonly type: 'load-failed';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
        readonly fencingToken: number | undefined;
        readonly durationMs: number;
        readonly error: unknown;
      }
    | {
        readonly type: 'wait-started';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
      }
    | {
        readonly type: 'wait-ended';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
        readonly reason: WaitEndReason;
        readonly waitedMs: number;
      }
    | {
        readonly type: 'lock-acquired';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
        readonly fencingToken: number;
        /**
         * The lock state that granted the lease: `redis:<lineage>` (one continuous Redis state;
         * it changes when Redis lost the user's lock state, after a restart without persistence
         * or a failover to a replica that never had it), `memory:<instance>` (the in-memory
         * store) or `fallback:<instance>` (fail-open's in-process fallback).
         */
        readonly incarnation: string;
        /** The lease it was taken with, in ms. */
        readonly leaseMs: number;
        /** How long the lease lasts from this event on (it ran from the acquire's send), in ms. */
        readonly leaseEndsInMs: number;
      }
    /** A held lease was renewed (by the loader's keep-alive, or `LoadLock.extend`). */
    | {
        readonly type: 'lease-extended';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
        readonly fencingToken: number;
        /** How long the lease now lasts, from this event on (a lower bound), in ms. */
        readonly leaseEndsInMs: number;
      }
    | {
        readonly type: 'lock-released';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
        readonly fencingToken: number;
        readonly owned: boolean;
      }
    | {
        readonly type: 'lease-lost';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
        readonly fencingToken: number;
      }
    /**
     * A lock was taken, but fewer replicas than `waitForReplicas` acknowledged it in time: it
     * was given back unused, and the caller tries again.
     */
    | {
        readonly type: 'lock-unreplicated';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
        readonly acks: number;
        readonly replicas: number;
      }
    /** A waiter took the lock after the holder released it without loading, or its lease ran out. */
    | {
        readonly type: 'takeover';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
        readonly fencingToken: number;
        readonly waitedMs: number;
      }
    | {
        readonly type: 'store-error';
        readonly userId?: undefined;
        readonly load?: undefined;
        readonly operation: string;
        readonly error: unknown;
        /**
         * `unreachable`: an outage (onStoreError applies); `rejected`: Redis refused the module
         * (credentials, ACL, TLS): calls get `LoadStatusRejectedError`.
         */
        readonly kind: 'unreachable' | 'rejected';
      }
    | {
        readonly type: 'store-recovered';
        readonly userId?: undefined;
        readonly load?: undefined;
        readonly operation: string;
      }
    /** This process took the lock to refresh a loaded user ahead (`refreshAheadMs`); the caller was served. */
    | {
        readonly type: 'refresh-started';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
        readonly fencingToken: number;
        /** What was left of the flag. */
        readonly remainingMs: number;
      }
    /** A refresh-ahead load succeeded: the flag's TTL started again. */
    | {
        readonly type: 'refreshed';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
        readonly fencingToken: number;
        readonly durationMs: number;
      }
    /** A refresh-ahead load failed (also logged as a warning): the flag runs out as usual. */
    | {
        readonly type: 'refresh-failed';
        readonly userId: string;
        /** The load's name; absent (undefined) for the unnamed load. */
        readonly load?: string;
        readonly fencingToken: number;
        readonly durationMs: number;
        readonly error: unknown;
      }
    /** This process called `clearAllLoaded()`: every user of the prefix is not loaded any more. */
    | {
        readonly type: 'all-cleared';
        readonly userId?: undefined;
        /** With `clearAllLoaded({ name })`: the load cleared; absent when every load was. */
        readonly load?: string;
        readonly durationMs: number;
      }
  );

type Without<E> = E extends LoadStatusEvent ? Omit<E, keyof LoadStatusEventBase> : never;
/** An event as passed to {@link LoadStatusEvents.emit}, before `at` and `instanceId` are added. */
export type LoadStatusEventInput = Without<LoadStatusEvent>;

/**
 * The module's events as an rxjs stream. Emitting costs one property check while nobody
 * subscribes. Delivery is synchronous; an error thrown by a subscriber never reaches the load
 * (rxjs reports it through `config.onUnhandledError`, or rethrows it on a timer).
 * Inject it like a provider: `constructor(private readonly events: LoadStatusEvents) {}`.
 */
export class LoadStatusEvents {
  private readonly subject = new Subject<LoadStatusEvent>();
  /** Every event of this module instance. */
  readonly events$: Observable<LoadStatusEvent> = this.subject.asObservable();

  constructor(
    readonly instanceId: string,
    private readonly logger: LoadStatusLogger = nestLogger(),
  ) {}

  /** True while someone subscribes: build events only then. */
  get active(): boolean {
    return this.subject.observed;
  }

  emit(event: LoadStatusEventInput): void {
    if (!this.subject.observed) return;
    try {
      this.subject.next({
        ...event,
        at: Date.now(),
        instanceId: this.instanceId,
      });
    } catch (error) {
      // Only reachable with rxjs's deprecated synchronous error handling.
      this.logger.warn(`an events$ subscriber threw: ${errorText(error)}`);
    }
  }

  /** Completes the stream (shutdown). */
  complete(): void {
    this.subject.complete();
  }
}
