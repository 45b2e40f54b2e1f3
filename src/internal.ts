/**
 * Methods the library calls on its own classes and no app code should: keyed by symbols not
 * exported from any entry point, so they stay off the public surface.
 */

/** `LoadFlags`' reset, which only `nestjs-load-status/testing` calls. */
export const RESET = Symbol('nestjs-load-status reset');

/** `LoadLocks`' check that a default load name (`<Class>.<method>`) belongs to one class. */
export const CLAIM_DEFAULT_NAME = Symbol('nestjs-load-status claim default name');

/**
 * `LoadLocks`' counts of what it has under way in this process (see `Flights.counts`): the
 * library's own tests read them to show that nothing is left tracked once calls settle.
 */
export const IN_FLIGHT = Symbol('nestjs-load-status in flight');
