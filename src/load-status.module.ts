import { DynamicModule, Inject, Module } from '@nestjs/common';
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
import type { LoadStatusModuleOptions } from './load-status.options';
import { resolveOptions } from './options/module-options';
import { DEFAULT_KEY_PREFIX } from './options/table';
import { LoadStatusService } from './load-status.service';
import { LoadStatusEvents } from './load-status.events';
import { LoadStatusHealthIndicator } from './load-status.health';

/** The prefix `forRootAsync({ keyPrefix })` declared, checked against the factory's at boot. */
const DECLARED_PREFIX = Symbol('LOAD_STATUS_DECLARED_PREFIX');

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
      inject: [
        LOAD_STATUS_MODULE_OPTIONS,
        { token: CACHE_MANAGER, optional: true },
        { token: DECLARED_PREFIX, optional: true },
      ],
      useFactory: (
        options: LoadStatusModuleOptions | undefined,
        appCache: unknown,
        declaredPrefix: string | undefined,
      ) => {
        const resolved = resolveOptions(options);
        if (declaredPrefix !== undefined && declaredPrefix !== resolved.keyPrefix) {
          throw new LoadStatusConfigError(
            'keyPrefix',
            `forRootAsync({ keyPrefix: ${JSON.stringify(declaredPrefix)} }) names the registration, yet its factory returned ${JSON.stringify(resolved.keyPrefix)}; give the same prefix in both`,
          );
        }
        return LoadStatusCore.create(resolved, () => appCacheManager(appCache));
      },
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
  /**
   * Registers the module with static options; no argument means the in-memory store and defaults.
   * Its services are also provided under the tokens of its `keyPrefix`
   * ({@link InjectLoadStatus}, {@link InjectLoadLocks}), for a module that imports several.
   */
  static override forRoot(options: typeof LOAD_STATUS_OPTIONS_TYPE = {}): DynamicModule {
    return withPrefixTokens(super.forRoot(options), options.keyPrefix ?? DEFAULT_KEY_PREFIX);
  }

  /**
   * Registers the module with options from `useFactory` (+ `inject`, `imports`), `useClass` or
   * `useExisting`. `keyPrefix` here (it must then equal the factory's) provides the services
   * under that prefix's tokens too; without it, only by class.
   */
  static override forRootAsync(
    options: typeof LOAD_STATUS_ASYNC_OPTIONS_TYPE & { keyPrefix?: string },
  ): DynamicModule {
    const { keyPrefix, ...rest } = options;
    const dynamic = super.forRootAsync(rest);
    if (keyPrefix === undefined) return dynamic;
    return withPrefixTokens(
      {
        ...dynamic,
        providers: [
          ...(dynamic.providers ?? []),
          { provide: DECLARED_PREFIX, useValue: keyPrefix },
        ],
      },
      keyPrefix,
    );
  }
}

/** The token of the {@link LoadStatusService} of the registration with `keyPrefix`. */
export function getLoadStatusToken(keyPrefix: string = DEFAULT_KEY_PREFIX): string {
  return `nestjs-load-status:LoadStatusService:${keyPrefix}`;
}

/** The token of the {@link LoadLockService} of the registration with `keyPrefix`. */
export function getLoadLocksToken(keyPrefix: string = DEFAULT_KEY_PREFIX): string {
  return `nestjs-load-status:LoadLockService:${keyPrefix}`;
}

/**
 * Injects the {@link LoadStatusService} of the registration with `keyPrefix`: for a module that
 * imports several registrations (one per kind of data), where the class alone would be ambiguous.
 */
export function InjectLoadStatus(keyPrefix?: string): PropertyDecorator & ParameterDecorator {
  return Inject(getLoadStatusToken(keyPrefix));
}

/** Injects the {@link LoadLockService} of the registration with `keyPrefix` (see {@link InjectLoadStatus}). */
export function InjectLoadLocks(keyPrefix?: string): PropertyDecorator & ParameterDecorator {
  return Inject(getLoadLocksToken(keyPrefix));
}

function withPrefixTokens(dynamic: DynamicModule, keyPrefix: string): DynamicModule {
  const tokens = [getLoadStatusToken(keyPrefix), getLoadLocksToken(keyPrefix)];
  return {
    ...dynamic,
    providers: [
      ...(dynamic.providers ?? []),
      { provide: tokens[0], useExisting: LoadStatusService },
      { provide: tokens[1], useExisting: LoadLockService },
    ],
    exports: [...(dynamic.exports ?? []), ...tokens],
  };
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
