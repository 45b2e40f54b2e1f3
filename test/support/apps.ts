import type { INestApplicationContext, LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  LoadLockService,
  LoadStatusModule,
  LoadStatusService,
  type LoadStatusModuleOptions,
  type RedisSource,
} from '../../src';

/** One Nest application context with the module, as one process of the cluster would have it. */
export interface TestApp {
  app: INestApplicationContext;
  lock: LoadLockService;
  status: LoadStatusService;
  close(): Promise<void>;
}

/** `logger`: where the app logs, from the boot on (default: nowhere). */
export async function startApp(
  options: LoadStatusModuleOptions = {},
  providers: any[] = [],
  logger?: LoggerService,
): Promise<TestApp> {
  const builder = Test.createTestingModule({
    imports: [LoadStatusModule.forRoot(options)],
    providers,
  });
  const moduleRef = await (logger ? builder.setLogger(logger) : builder).compile();
  moduleRef.useLogger(logger ?? false);
  const app = await moduleRef.init();
  let closed = false;
  return {
    app,
    lock: app.get(LoadLockService),
    status: app.get(LoadStatusService),
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}

/**
 * An app on a client the test made (a node-redis client, an ioredis `Cluster`, …): closing the
 * app closes the client after it, and a boot that fails closes it too.
 */
export async function startAppOn(
  client: { source: RedisSource; close(): Promise<void> },
  options: Omit<LoadStatusModuleOptions, 'redis'>,
): Promise<TestApp> {
  try {
    const app = await startApp({ ...options, redis: client.source });
    return {
      ...app,
      close: async () => {
        await app.close();
        await client.close();
      },
    };
  } catch (error) {
    await client.close();
    throw error;
  }
}

/** A promise with its resolve function, for steering loaders from a test. */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
