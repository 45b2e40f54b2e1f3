/**
 * The Nest-free public surface: what both entry points, `nestjs-load-status` and
 * `nestjs-load-status/standalone`, export. The Nest module, its providers and the Nest-bound
 * helpers are added by `index.ts` only.
 */
export { WithLoadLock, WithUserLoadLock } from './with-user-load-lock.decorator';
export type {
  LoadLockDecoratorOptions,
  LoadLockMethodDecorator,
  ResolvesToUndefinedToo,
  WithLoadLockOptions,
  WithUserLoadLockOptions,
} from './with-user-load-lock.decorator';
export { LoadFlags } from './load-flags';
export type { SetLoadedOptions, WaitForLoadOptions } from './load-flags';
export { LoadLocks } from './load-locks';
export type { AcquireLoadLockOptions, EnsureLoadedOptions } from './options/call-options';
export type { LoadNameOption } from './validation';
export type { LoadLock } from './load-lock';
export type { LoadContext, LoadOutcome, Loader } from './flight';
export type { LoadStatusEvent } from './load-status.events';
export type { LoadStatusModuleOptions } from './load-status.options';
export type { LoadStatusLogger } from './logger';
export {
  InvalidUserIdError,
  LoadLeaseLostError,
  LoadStatusConfigError,
  LoadStatusHealthCheckError,
  LoadStatusError,
  LoadStatusModuleMissingError,
  LoadStatusRejectedError,
  LoadStatusShutdownError,
  LoadStatusUnavailableError,
  LoadWaitTimeoutError,
} from './errors';
