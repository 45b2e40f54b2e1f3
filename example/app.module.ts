import { DynamicModule, Module } from '@nestjs/common';
import { LoadStatusModule } from '../src';
import {
  EXAMPLE_OPTIONS,
  UserDataCache,
  UserDataService,
  type ExampleSettings,
} from './user-data.service';
import { LoadMetrics, MetricsController } from './load-metrics';
import { UsersController } from './users.controller';

export interface AppOptions {
  /** `redis://…`; undefined: the in-memory store (coordinates this process only). */
  redisUrl?: string;
  /** @default 'example' */
  keyPrefix?: string;
  /** Duration of the simulated load, in ms. @default 200 */
  loadMs?: number;
  /** How long a user stays loaded, in ms. @default the library's (1 hour) */
  loadedTtlMs?: number;
  /** Reload an active user in the background this long before the flag runs out. @default 0 (off) */
  refreshAheadMs?: number;
  /** The data cache; pass one instance to several apps to model a shared cache. @default a new one */
  cache?: UserDataCache;
}

@Module({})
export class AppModule {
  static register(options: AppOptions = {}): DynamicModule {
    const settings: ExampleSettings = { loadMs: options.loadMs ?? 200 };
    return {
      module: AppModule,
      imports: [
        LoadStatusModule.forRoot({
          redis: options.redisUrl,
          // Said out loud: the demo without REDIS_URL is one process on purpose.
          store: options.redisUrl === undefined ? 'memory' : 'redis',
          keyPrefix: options.keyPrefix ?? 'example',
          loadedTtlMs: options.loadedTtlMs,
          refreshAheadMs: options.refreshAheadMs,
        }),
      ],
      controllers: [UsersController, MetricsController],
      providers: [
        { provide: EXAMPLE_OPTIONS, useValue: settings },
        { provide: UserDataCache, useValue: options.cache ?? new UserDataCache() },
        UserDataService,
        LoadMetrics,
      ],
    };
  }
}
