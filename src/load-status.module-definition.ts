import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { LoadStatusModuleExtras, LoadStatusModuleOptions } from './load-status.options';

/** Implement it to pass a class to `forRootAsync({ useClass })`. */
export interface LoadStatusOptionsFactory {
  createLoadStatusOptions(): LoadStatusModuleOptions | Promise<LoadStatusModuleOptions>;
}

export const {
  ConfigurableModuleClass: LoadStatusConfigurableModule,
  MODULE_OPTIONS_TOKEN: LOAD_STATUS_MODULE_OPTIONS,
  OPTIONS_TYPE: LOAD_STATUS_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: LOAD_STATUS_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<LoadStatusModuleOptions>({ moduleName: 'LoadStatus' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createLoadStatusOptions')
  .setExtras<LoadStatusModuleExtras>({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal,
  }))
  .build();
