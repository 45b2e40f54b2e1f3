import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import {
  InjectLoadLocks,
  InjectLoadStatus,
  LoadLockService,
  LoadStatusConfigError,
  LoadStatusModule,
  LoadStatusService,
  type LoadStatusModuleOptions,
  type LoadStatusOptionsFactory,
} from '../../src';
import { LoadStatusCore, ONE_PROCESS_WARNING } from '../../src/load-status.core';
import { bootWithLogs, type LoggedApp } from '../support/logged-app';
import { inspector, redisUrl, uniquePrefix } from '../support/env';
import { createTestRedisClient, NODE_REDIS_FLAVOURS } from '../support/redis-clients';

async function boot(imports: any[], providers: any[] = []) {
  const moduleRef = await Test.createTestingModule({ imports, providers }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

/** Proves the services work end to end on whatever store the registration produced. */
async function exercise(app: { get<T>(type: new (...args: any[]) => T): T }): Promise<void> {
  const lock = app.get(LoadLockService);
  const status = app.get(LoadStatusService);
  const user = `u-${Math.random()}`;
  const outcome = await lock.ensureLoaded(user, () => Promise.resolve(42));
  expect(outcome).toMatchObject({ status: 'loaded', value: 42 });
  expect(await status.isLoaded(user)).toBe(true);
}

@Injectable()
class OptionsFromClass implements LoadStatusOptionsFactory {
  createLoadStatusOptions(): LoadStatusModuleOptions {
    return { keyPrefix: 'from-class', redis: redisUrl() };
  }
}

@Module({ providers: [OptionsFromClass], exports: [OptionsFromClass] })
class ConfigModule {}

/** A feature module that does not import LoadStatusModule itself. */
@Injectable()
class NeedsLock {
  constructor(readonly lock: LoadLockService) {}
}
@Module({ providers: [NeedsLock] })
class FeatureModule {}

describe('LoadStatusModule registration', () => {
  it('forRoot() with no options uses the in-memory store', async () => {
    const app = await boot([LoadStatusModule.forRoot()]);
    expect(app.get(LoadStatusCore).store.kind).toBe('memory');
    await exercise(app);
    await app.close();
  });

  it('forRoot() with a Redis URL uses Redis and closes its own connections on shutdown', async () => {
    const prefix = uniquePrefix('own');
    const redis = inspector();
    const app = await boot([LoadStatusModule.forRoot({ redis: redisUrl(), keyPrefix: prefix })]);
    expect(app.get(LoadStatusCore).store.kind).toBe('redis');
    await exercise(app);
    expect(await redis.keys(`${prefix}:*`)).not.toHaveLength(0);
    const names = async () =>
      String(await redis.client('LIST'))
        .split('\n')
        .filter(Boolean).length;
    const during = await names();
    await app.close();
    // Both owned connections (commands and subscriber) are gone.
    expect(await names()).toBe(during - 2);
    await redis.quit();
  });

  it('forRoot() with ioredis options creates its own client', async () => {
    const url = new URL(redisUrl());
    const app = await boot([
      LoadStatusModule.forRoot({
        redis: { host: url.hostname, port: Number(url.port) },
        keyPrefix: uniquePrefix(),
      }),
    ]);
    expect(app.get(LoadStatusCore).store.kind).toBe('redis');
    await exercise(app);
    await app.close();
  });

  it('waits for a borrowed client that is still connecting before its first command', async () => {
    const client = new Redis(redisUrl()); // connecting, not ready yet
    const app = await boot([
      LoadStatusModule.forRoot({
        redis: client,
        keyPrefix: uniquePrefix(),
        onStoreError: 'fail-closed',
      }),
    ]);
    try {
      expect(await app.get(LoadStatusService).isLoaded('first')).toBe(false);
    } finally {
      await app.close();
      await client.quit();
    }
  });

  it('leaves a borrowed client open after shutdown', async () => {
    const client = new Redis(redisUrl());
    const app = await boot([
      LoadStatusModule.forRoot({ redis: client, keyPrefix: uniquePrefix() }),
    ]);
    await exercise(app);
    await app.close();
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
    await client.quit();
  });

  it.each(NODE_REDIS_FLAVOURS)(
    'forRootAsync() with a connected %s client borrows it: works, and leaves it open after shutdown',
    async (flavour) => {
      const client = await createTestRedisClient(flavour, redisUrl());
      const raw = client.source as unknown as { isReady: boolean; sendCommand(a: string[]): any };
      const app = await boot([
        LoadStatusModule.forRootAsync({
          useFactory: () => ({ redis: client.source, keyPrefix: uniquePrefix(flavour) }),
        }),
      ]);
      expect(app.get(LoadStatusCore).store.kind).toBe('redis');
      await exercise(app);
      await app.close();
      expect(raw.isReady).toBe(true);
      expect(await raw.sendCommand(['PING'])).toBe('PONG');
      await client.close();
    },
  );

  it.each(NODE_REDIS_FLAVOURS)(
    'fails the boot with LoadStatusConfigError for a %s client nobody connected',
    async (flavour) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { createClient } = require(flavour === 'node-redis-5' ? 'redis5' : 'redis');
      const client = createClient({ url: redisUrl() });
      const attempt = boot([
        LoadStatusModule.forRoot({ redis: client, keyPrefix: uniquePrefix() }),
      ]);
      await expect(attempt).rejects.toThrow(LoadStatusConfigError);
      await expect(attempt).rejects.toThrow(
        'Invalid load-status option "redis": the node-redis client is not connected; call await client.connect() before passing it.',
      );
      expect(client.isOpen).toBe(false);
    },
  );

  it('fails the boot with LoadStatusConfigError for a node-redis client pool', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createClientPool } = require('redis');
    const pool = createClientPool({ url: redisUrl() });
    await expect(
      boot([LoadStatusModule.forRoot({ redis: pool, keyPrefix: uniquePrefix() })]),
    ).rejects.toThrow(/a node-redis client pool cannot run a script/);
  });

  it('forRootAsync() with useFactory, inject and imports', async () => {
    const app = await boot([
      LoadStatusModule.forRootAsync({
        imports: [ConfigModule],
        inject: [OptionsFromClass],
        useFactory: (config: OptionsFromClass) => ({
          ...config.createLoadStatusOptions(),
          keyPrefix: uniquePrefix('factory'),
        }),
      }),
    ]);
    expect(app.get(LoadStatusCore).options.keyPrefix).toMatch(/^ls-factory-/);
    await exercise(app);
    await app.close();
  });

  it('forRootAsync() with useClass', async () => {
    const app = await boot([LoadStatusModule.forRootAsync({ useClass: OptionsFromClass })]);
    expect(app.get(LoadStatusCore).options.keyPrefix).toBe('from-class');
    await exercise(app);
    await app.close();
  });

  it('forRootAsync() with useExisting', async () => {
    const app = await boot([
      LoadStatusModule.forRootAsync({ imports: [ConfigModule], useExisting: OptionsFromClass }),
    ]);
    expect(app.get(LoadStatusCore).options.keyPrefix).toBe('from-class');
    await exercise(app);
    await app.close();
  });

  it('isGlobal: true makes the services injectable in modules that do not import it', async () => {
    for (const register of [
      LoadStatusModule.forRoot({ isGlobal: true }),
      LoadStatusModule.forRootAsync({ isGlobal: true, useFactory: () => ({}) }),
    ]) {
      const app = await boot([register, FeatureModule]);
      expect(app.get(NeedsLock).lock).toBeInstanceOf(LoadLockService);
      await app.close();
    }
  });

  it('isGlobal: false (the default) keeps the services private to importing modules', async () => {
    for (const register of [
      LoadStatusModule.forRoot(),
      LoadStatusModule.forRoot({ isGlobal: false }),
    ]) {
      await expect(boot([register, FeatureModule])).rejects.toThrow(/LoadLockService/);
    }
  });

  it('isGlobal returned by a forRootAsync factory fails the boot: it could not take effect there', async () => {
    const attempt = boot([
      LoadStatusModule.forRootAsync({
        useFactory: () => ({ isGlobal: true }) as LoadStatusModuleOptions,
      }),
    ]);
    await expect(attempt).rejects.toThrow(LoadStatusConfigError);
    await expect(attempt).rejects.toThrow(
      /"isGlobal": a forRootAsync\(\) factory returned it.*forRootAsync\(\{ isGlobal, useFactory \}\)/,
    );
  });

  describe('several registrations in one module, injected by their keyPrefix', () => {
    @Injectable()
    class TwoKinds {
      constructor(
        @InjectLoadLocks('servers') readonly servers: LoadLockService,
        @InjectLoadLocks('settings') readonly settings: LoadLockService,
        @InjectLoadStatus('settings') readonly settingsStatus: LoadStatusService,
      ) {}
    }

    it('gives each token its own registration (forRoot and forRootAsync({ keyPrefix }))', async () => {
      const app = await boot(
        [
          LoadStatusModule.forRoot({ keyPrefix: 'servers', store: 'memory' }),
          LoadStatusModule.forRootAsync({
            keyPrefix: 'settings',
            useFactory: () => ({ keyPrefix: 'settings', store: 'memory' as const }),
          }),
        ],
        [TwoKinds],
      );
      try {
        const kinds = app.get(TwoKinds);
        expect([kinds.servers.keyPrefix, kinds.settings.keyPrefix]).toEqual([
          'servers',
          'settings',
        ]);
        await kinds.settings.ensureLoaded('u1', () => Promise.resolve(1));
        expect(await kinds.settingsStatus.isLoaded('u1')).toBe(true);
        expect(await kinds.servers.ensureLoaded('u1', () => Promise.resolve(2))).toMatchObject({
          status: 'loaded',
          value: 2,
        });
      } finally {
        await app.close();
      }
    });

    it('fails the boot when forRootAsync({ keyPrefix }) and its factory disagree', async () => {
      await expect(
        boot([
          LoadStatusModule.forRootAsync({
            keyPrefix: 'settings',
            useFactory: () => ({ keyPrefix: 'servers', store: 'memory' as const }),
          }),
        ]),
      ).rejects.toThrow(
        /"keyPrefix": forRootAsync\(\{ keyPrefix: "settings" \}\) names the registration, yet its factory returned "servers"/,
      );
    });
  });

  describe('no Redis: never a silent downgrade to one process', () => {
    const warnings = (app: LoggedApp) =>
      app.lines.filter((l) => l.level === 'warn').map((l) => l.message);

    it('warns once at boot that loads are coordinated within this process only', async () => {
      const app = await bootWithLogs({ redis: undefined });
      try {
        expect(warnings(app)).toEqual([ONE_PROCESS_WARNING]);
        await app.lock.ensureLoaded('u1', () => Promise.resolve(1));
        await app.status.isLoaded('u1');
        expect(warnings(app)).toEqual([ONE_PROCESS_WARNING]);
      } finally {
        await app.close();
      }
    });

    it("stays quiet when store: 'memory' chooses one process on purpose", async () => {
      const app = await bootWithLogs({ store: 'memory' });
      try {
        expect(app.app.get(LoadStatusCore).store.kind).toBe('memory');
        expect(warnings(app)).toEqual([]);
      } finally {
        await app.close();
      }
    });

    it("store: 'redis' with the redis option unset (a missing REDIS_URL) fails the boot", async () => {
      await expect(bootWithLogs({ store: 'redis', redis: undefined })).rejects.toThrow(
        /"store": 'redis' needs the redis option, and it is missing/,
      );
    });

    it("store: 'memory' beside a redis option fails the boot rather than ignore one", async () => {
      await expect(bootWithLogs({ store: 'memory', redis: redisUrl() })).rejects.toThrow(
        /"store": 'memory' keeps every flag and lock in this process, yet the redis option is given too/,
      );
    });
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['an unknown store', { store: 'postgres' }, /"store".*'redis', 'memory'.*"postgres"/],
    ['a negative lockTtlMs', { lockTtlMs: -1 }, /"lockTtlMs".*from 30 to 2147483647, got -1/],
    ['a fractional loadedTtlMs', { loadedTtlMs: 1.5 }, /"loadedTtlMs".*got 1.5/],
    ['an infinite waitTimeoutMs', { waitTimeoutMs: Infinity }, /"waitTimeoutMs".*got Infinity/],
    ['a zero pollIntervalMs', { pollIntervalMs: 0 }, /"pollIntervalMs".*got 0/],
    [
      'an unknown onWaitTimeout',
      { onWaitTimeout: 'retry' },
      /"onWaitTimeout".*'throw', 'run'.*"retry"/,
    ],
    ['an unknown onStoreError', { onStoreError: 'ignore' }, /"onStoreError"/],
    ['a keyPrefix with braces', { keyPrefix: 'a{b}' }, /"keyPrefix"/],
    ['a keyPrefix with a glob character', { keyPrefix: 'app*' }, /"keyPrefix".*glob/],
    ['a keyPrefix with a bracket', { keyPrefix: 'app[1]' }, /"keyPrefix"/],
    ['a keyPrefix with a backslash', { keyPrefix: 'app\\x' }, /"keyPrefix"/],
    ['a keyPrefix with whitespace', { keyPrefix: 'my app' }, /"keyPrefix"/],
    ['a keyPrefix with a control character', { keyPrefix: 'app\u0007' }, /"keyPrefix"/],
    ['an empty keyPrefix', { keyPrefix: '' }, /"keyPrefix"/],
    ['a keyPrefix of 257 characters', { keyPrefix: 'p'.repeat(257) }, /"keyPrefix"/],
    ['a redis URL without scheme', { redis: 'localhost:6379' }, /"redis".*redis:\/\//],
    ['a misspelt option', { lockTTL: 5 }, /"lockTTL": unknown option/],
  ])('rejects %s at boot with LoadStatusConfigError', async (_label, options, message) => {
    const attempt = boot([LoadStatusModule.forRoot(options)]);
    await expect(attempt).rejects.toThrow(LoadStatusConfigError);
    await expect(
      boot([LoadStatusModule.forRoot(options as LoadStatusModuleOptions)]),
    ).rejects.toThrow(message);
  });

  it('rejects invalid options from forRootAsync at boot', async () => {
    await expect(
      boot([LoadStatusModule.forRootAsync({ useFactory: () => ({ lockTtlMs: 0 }) })]),
    ).rejects.toThrow(LoadStatusConfigError);
  });
});
