import { CLOSED_AFTER_CONNECT, classifyRedisError, type StoreFailure } from './redis-errors';
import { isError } from '../../is-error';

/** What a client (ioredis or node-redis, any kind) emits about its connection. */
export interface ConnectionEvents {
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
}

/**
 * Watches a client's connection events for the store's whole life: the rejection it last saw
 * (until the next 'ready'), so a command that fails fast while the client keeps reconnecting
 * with a wrong password is reported as the rejection it is, not as an outage; and, for the boot,
 * whether every attempt so far was closed by the server right after it connected (a TLS port
 * reached without TLS).
 */
export class ConnectionWatch {
  private readonly listeners: Array<[ConnectionEvents, string, (...args: any[]) => void]> = [];
  private rejection: { failure: StoreFailure; error: unknown } | undefined;
  private lastErrorSeen: unknown;
  private connectedSinceReady = false;
  private closedAfterConnect = 0;
  private otherFailures = 0;
  private ready = false;
  private rejectNow: ((error: unknown) => void) | undefined;
  /** Rejects with the server's error as soon as it refuses the connection. */
  readonly rejected: Promise<never>;

  constructor(sources: readonly ConnectionEvents[]) {
    this.rejected = new Promise<never>((_, reject) => (this.rejectNow = reject));
    this.rejected.catch(() => undefined); // raced by the boot; never an unhandled rejection
    for (const source of sources) {
      this.on(source, 'connect', () => (this.connectedSinceReady = true));
      this.on(source, 'ready', () => {
        this.ready = true;
        this.connectedSinceReady = false;
        this.closedAfterConnect = 0;
        this.rejection = undefined;
        this.lastErrorSeen = undefined;
      });
      this.on(source, 'error', (error: unknown) => this.saw(error));
    }
  }

  /** The rejection the connection is stuck on (cleared by the next successful connect). */
  get lastRejection(): { failure: StoreFailure; error: unknown } | undefined {
    return this.rejection;
  }

  /** The last connection error since the last 'ready' (why a connection attempt failed). */
  get lastError(): unknown {
    return this.lastErrorSeen;
  }

  /**
   * Why the boot could not connect, if the server refused it: a rejection seen, or a connection
   * that never became ready and was only ever closed right after it was opened.
   */
  bootRejection(): StoreFailure | undefined {
    if (this.rejection) return this.rejection.failure;
    if (!this.ready && this.closedAfterConnect > 0 && this.otherFailures === 0) {
      return CLOSED_AFTER_CONNECT;
    }
    return undefined;
  }

  dispose(): void {
    for (const [source, event, listener] of this.listeners) source.off(event, listener);
    this.listeners.length = 0;
  }

  private saw(error: unknown): void {
    this.lastErrorSeen = error;
    const failure = classifyRedisError(error);
    if (failure.kind === 'rejected') {
      this.rejection = { failure, error };
      this.rejectNow?.(error);
    } else if (this.connectedSinceReady && isClosedByPeer(error)) {
      this.closedAfterConnect++;
    } else {
      this.otherFailures++;
    }
    this.connectedSinceReady = false;
  }

  private on(source: ConnectionEvents, event: string, listener: (...args: any[]) => void): void {
    source.on(event, listener);
    this.listeners.push([source, event, listener]);
  }
}

/** The peer ended the connection (reset, or closed mid-reply), as both libraries word it. */
function isClosedByPeer(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'ECONNRESET' || code === 'EPIPE') return true;
  const message = isError(error) ? error.message : String(error);
  return /socket closed unexpectedly|socket hang up|read ECONNRESET/i.test(message);
}
