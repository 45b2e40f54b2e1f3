import { redact, redactError } from './redaction';
import { isError } from './is-error';

/**
 * Base class of every error this library throws on purpose. Catch it to handle all of them;
 * `instanceof` works across the subclasses below.
 */
export class LoadStatusError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A user id was not a non-empty string (or finite number) of at most 1024 characters. */
export class InvalidUserIdError extends LoadStatusError {
  constructor(
    /** What was passed, kept for logging. */
    readonly received: unknown,
    reason: string,
  ) {
    super(
      `Invalid user id ${describeValue(received, 40)}: ${reason}. ` +
        'Pass a non-empty string (or a finite number) of at most 1024 characters.',
    );
  }
}

/** A waiter gave up after `waitTimeoutMs` while another caller held the load lock. */
export class LoadWaitTimeoutError extends LoadStatusError {
  constructor(
    readonly userId: string,
    readonly waitedMs: number,
  ) {
    super(
      `Timed out after ${waitedMs} ms waiting for user "${userId}" to be loaded by another caller. ` +
        'Raise waitTimeoutMs above lockTtlMs plus your longest load, or set onWaitTimeout: "run".',
    );
  }
}

/** The store (Redis) could not be reached and `onStoreError` is `'fail-closed'`. */
export class LoadStatusUnavailableError extends LoadStatusError {
  constructor(
    /** The store operation that could not run, e.g. `acquire`, `finish`, `isLoaded`. */
    readonly operation: string,
    cause?: unknown,
  ) {
    super(
      `Load status store unavailable during ${operation}: ${errorText(cause)}. ` +
        "Check that Redis is reachable, or set onStoreError: 'fail-open' to degrade to in-process coordination.",
      { cause: redactError(cause) },
    );
  }
}

/**
 * The store could not be reached by a caller that rides out outages (`outageGraceMs`): it
 * retries instead of applying `onStoreError`. Internal to the flow; a `LoadStatusUnavailableError`
 * if it ever surfaced.
 */
export class StoreUnreachableError extends LoadStatusUnavailableError {}

/** Options were invalid; thrown at boot (or at decoration time) and names the option. */
export class LoadStatusConfigError extends LoadStatusError {
  constructor(
    readonly option: string,
    problem: string,
    options?: { cause?: unknown },
  ) {
    super(`Invalid load-status option "${option}": ${redact(problem)}.`, options);
  }
}

/**
 * Redis answered and refused the module at run time: rejected credentials (WRONGPASS, NOAUTH), a
 * missing ACL permission (NOPERM), a TLS setup that cannot work, a script or type error on the
 * module's keys — say, an ACL changed under a running app. A misconfiguration, not an outage:
 * `onStoreError` does not apply, and calls end with it under either policy. A refusal met at boot
 * fails the boot with a {@link LoadStatusConfigError} for the `redis` option instead, whose
 * `cause` is this error.
 */
export class LoadStatusRejectedError extends LoadStatusError {
  constructor(
    /** What was refused: `the connection`, `subscribe`, or the store operation. */
    readonly operation: string,
    /** The cause in a few words, e.g. `WRONGPASS`, `NOPERM`, `TLS: SELF_SIGNED_CERT_IN_CHAIN`. */
    readonly reason: string,
    /** What to change. */
    readonly fix: string,
    cause?: unknown,
  ) {
    super(`${rejectionText(operation, reason, fix, cause)}.`, { cause: redactError(cause) });
  }
}

/** `Redis rejected <operation> (<reason>: <cause>); <fix>`, with every secret redacted. */
export function rejectionText(
  operation: string,
  reason: string,
  fix: string,
  cause?: unknown,
): string {
  return redact(
    `Redis rejected ${operation} (${reason}${cause === undefined ? '' : `: ${errorText(cause)}`}); ${fix}`,
  );
}

/**
 * A method decorated with `@WithUserLoadLock()` ran before any `LoadStatusModule` was initialised
 * in this process. The method is never run unlocked.
 */
export class LoadStatusModuleMissingError extends LoadStatusError {
  constructor(method: string, keyPrefix?: string) {
    super(
      `@WithUserLoadLock() on ${method} found no LoadStatusModule` +
        (keyPrefix === undefined ? '. ' : ` with keyPrefix ${JSON.stringify(keyPrefix)}. `) +
        'Import LoadStatusModule.forRoot() (or forRootAsync()) in the application that calls it, and call it after app.init().',
    );
  }
}

/** The module is shutting down: pending waits and new calls end with this error. */
export class LoadStatusShutdownError extends LoadStatusError {
  constructor(readonly userId?: string) {
    super(
      `LoadStatusModule is shutting down${userId === undefined ? '' : ` (user "${userId}")`}; ` +
        'the call was not completed. Retry on another instance.',
    );
  }
}

/**
 * The lock's lease was lost while the loader ran (an extension found another owner or no lock).
 * `ctx.signal` of the loader aborts with this error.
 */
export class LoadLeaseLostError extends LoadStatusError {
  constructor(
    readonly userId: string,
    readonly fencingToken: number,
  ) {
    super(
      `Lost the load lock lease for user "${userId}" (fencing token ${fencingToken}) while loading. ` +
        'Another caller may be loading too; reject writes carrying an older fencing token, or raise lockTtlMs.',
    );
  }
}

/**
 * Thrown by `LoadStatusHealthIndicator.isHealthyOrThrow()` when the store is down. It carries
 * what @nestjs/terminus 10 and 11 look for in their own `HealthCheckError` (`isHealthCheckError`,
 * `causes`), so they report the indicator as down without this package importing terminus.
 */
export class LoadStatusHealthCheckError extends LoadStatusError {
  /** Read by @nestjs/terminus to tell a health failure from a crash. */
  readonly isHealthCheckError = true;

  constructor(
    key: string,
    reason: string | undefined,
    /** The indicator's result, reported by terminus under `error` and `details`. */
    readonly causes: Record<string, unknown>,
  ) {
    super(
      `Health check "${key}" failed: the load-status store is down (${reason ?? 'unreachable'}).`,
    );
  }
}

/**
 * A value as error messages quote it: a string in quotes (cut to `maxChars`, with its length),
 * a number, boolean, null or undefined as written, else its kind.
 */
export function describeValue(value: unknown, maxChars = Infinity): string {
  if (typeof value === 'string')
    return value.length > maxChars
      ? `${JSON.stringify(value.slice(0, maxChars))}… (${value.length} chars)`
      : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null)
    return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

/** The message of a foreign error, with every registered secret redacted. */
export function errorText(error: unknown): string {
  return redact(isError(error) ? error.message : String(error));
}
