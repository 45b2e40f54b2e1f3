/** The Nest entry point: the Nest-free surface (`surface.ts`), and the module, its providers and the Nest-bound helpers. */
export * from './surface';
export {
  getLoadLocksToken,
  getLoadStatusToken,
  InjectLoadLocks,
  InjectLoadStatus,
  LoadStatusModule,
} from './load-status.module';
export { createLoadStatus } from './standalone';
export type { CreateLoadStatusOptions, LoadStatusInstance } from './standalone';
export type { LoadStatusOptionsFactory } from './load-status.module-definition';
export { LOAD_STATUS_MODULE_OPTIONS } from './load-status.module-definition';
export {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_KEY_PREFIX,
  DEFAULT_LOADED_TTL_MS,
  DEFAULT_LOCK_TTL_MS,
  DEFAULT_ON_STORE_ERROR,
  DEFAULT_ON_WAIT_TIMEOUT,
  DEFAULT_OUTAGE_GRACE_MS,
  DEFAULT_WAIT_FOR_REPLICAS_TIMEOUT_MS,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_WAIT_TIMEOUT_MS,
} from './options/table';
export type {
  LoadStatusModuleExtras,
  NearCacheOptions,
  OnStoreError,
  StoreChoice,
  OnWaitTimeout,
  WaitForReplicasOptions,
} from './load-status.options';
export type {
  IoRedisClient,
  IoRedisConnectionOptions,
  NodeRedisClient,
  RedisSource,
} from './redis-source';
export { LoadStatusService } from './load-status.service';
export { LoadLockService } from './load-lock.service';
export { LoadStatusEvents } from './load-status.events';
export { LoadStatusHealthIndicator } from './load-status.health';
export { LoadStatusExceptionFilter } from './load-status.filter';
export type { LoadStatusErrorResponse } from './load-status.filter';
export type { FlagCache } from './stores/cache-flag-load-store';
export type { LoadStatusHealthResult, LoadStatusLegacyHealthResult } from './load-status.health';
export type {
  LoadStatusEventBase,
  LoadStatusEventInput,
  WaitEndReason,
} from './load-status.events';
