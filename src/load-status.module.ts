import { Module } from '@nestjs/common';
import { LoadLockService } from './load-lock.service';
import { LoadStatusCore } from './load-status.core';
import { LOAD_STATUS_MODULE_OPTIONS, LoadStatusConfigurableModule } from './load-status.module-definition';
import { resolveOptions, type LoadStatusModuleOptions } from './load-status.options';
import { LoadStatusService } from './load-status.service';

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
      inject: [LOAD_STATUS_MODULE_OPTIONS],
      useFactory: (options: LoadStatusModuleOptions | undefined) => LoadStatusCore.create(resolveOptions(options)),
    },
    LoadStatusService,
    LoadLockService,
  ],
  exports: [LoadStatusService, LoadLockService],
})
export class LoadStatusModule extends LoadStatusConfigurableModule {}
