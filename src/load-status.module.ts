import { DynamicModule, Module } from '@nestjs/common';
import { LoadStatusConfigError } from './errors';
import { isFlagCache, type FlagCache } from './stores/cache-flag-load-store';
import { LoadLockService } from './load-lock.service';
import { LoadStatusCore } from './load-status.core';
import {
  LOAD_STATUS_ASYNC_OPTIONS_TYPE,
  LOAD_STATUS_MODULE_OPTIONS,
  LOAD_STATUS_OPTIONS_TYPE,
  LoadStatusConfigurableModule,
} from './load-status.module-definition';
import { resolveOptions, type LoadStatusModuleOptions } from './load-status.options';
import { LoadStatusService } from './load-status.service';
import { LoadStatusEvents } from './load-status.events';
import { LoadStatusHealthIndicator } from './load-status.health';

/** The token `@nestjs/cache-manager` provides the app's `Cache` under (kept here: it is optional). */
const CACHE_MANAGER = 'CACHE_MANAGER';

/**
 * Provides {@link LoadStatusService} and {@link LoadLockService} and enables
 * `@WithUserLoadLock()`. `forRoot(options)` or `forRootAsync({ imports, inject, useFactory |
 * useClass | useExisting, isGlobal })`. Options are validated once, at boot: a bad one fails
 * with `LoadStatusConfigError` naming it.
 */
@Module({
  providers: [
    {
      provide: LoadStatusCore,
      // Optional: present only when the app registers CacheModule (needed for `cache: true`).
      inject: [LOAD_STATUS_MODULE_OPTIONS, { token: CACHE_MANAGER, optional: true }],
      useFactory: (options: LoadStatusModuleOptions | undefined, appCache: unknown) =>
        LoadStatusCore.create(resolveOptions(options), () => appCacheManager(appCache)),
    },
    {
      provide: LoadStatusEvents,
      inject: [LoadStatusCore],
      useFactory: (core: LoadStatusCore) => core.events,
    },
    LoadStatusService,
    LoadLockService,
    LoadStatusHealthIndicator,
  ],
  exports: [LoadStatusService, LoadLockService, LoadStatusEvents, LoadStatusHealthIndicator],
})
export class LoadStatusModule extends LoadStatusConfigurableModule {
  /** Registers the module with static options; no argument means the in-memory store and defaults. */
  static override forRoot(options: typeof LOAD_STATUS_OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }

  /** Registers the module with options from `useFactory` (+ `inject`, `imports`), `useClass` or `useExisting`. */
  static override forRootAsync(options: typeof LOAD_STATUS_ASYNC_OPTIONS_TYPE): DynamicModule {
    return super.forRootAsync(options);
  }
}

function appCacheManager(cache: unknown): FlagCache {
  if (!isFlagCache(cache)) {
    throw new LoadStatusConfigError(
      'cache',
      "true needs the app's CACHE_MANAGER: import CacheModule.register({ isGlobal: true }) from @nestjs/cache-manager",
    );
  }
  return cache;
}
