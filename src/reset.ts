/**
 * The key of `LoadFlags`' reset, which only `nestjs-load-status/testing` calls: a symbol no app
 * code reaches by accident, so wiping every flag and lock is not a production method.
 */
export const RESET = Symbol('nestjs-load-status reset');
