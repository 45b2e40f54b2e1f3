import { CacheModule, CACHE_MANAGER } from '@nestjs/cache-manager';
import { Test } from '@nestjs/testing';
import KeyvRedis from '@keyv/redis';
import { createCache, type Cache } from 'cache-manager';
import { Keyv } from 'keyv';
import {
  LoadLockService,
  LoadStatusConfigError,
  LoadStatusModule,
  LoadStatusService,
} from '../../src';
import { LoadStatusCore } from '../../src/load-status.core';
import { inspector, redisUrl, uniquePrefix, userKey } from '../support/env';

describe('cache-manager flag store', () => {
  it("cache: true uses the app's CACHE_MANAGER, and cache.del of the flag makes the user load again", async () => {
    const prefix = uniquePrefix('cm');
    const moduleRef = await Test.createTestingModule({
      imports: [
        CacheModule.register({ isGlobal: true }),
        LoadStatusModule.forRoot({ cache: true, keyPrefix: prefix }),
      ],
    }).compile();
    const app = await moduleRef.init();
    try {
      const cache = app.get<Cache>(CACHE_MANAGER);
      const lock = app.get(LoadLockService);
      const status = app.get(LoadStatusService);
      expect(app.get(LoadStatusCore).store.kind).toBe('cache-manager');
      let runs = 0;
      await Promise.all(
        Array.from({ length: 20 }, () => lock.ensureLoaded('u', () => Promise.resolve(++runs))),
      );
      expect(runs).toBe(1);
      // Single-flight alone explains one run of a burst; a later call must find the flag.
      expect(await lock.ensureLoaded('u', () => Promise.resolve(++runs))).toEqual({
        status: 'already-loaded',
      });
      expect(runs).toBe(1);
      const flagKey = userKey(prefix, 'u', 'loaded');
      expect(await cache.get(flagKey)).toBeDefined();
      const expiresAt = await cache.ttl(flagKey);
      expect(expiresAt! - Date.now()).toBeGreaterThan(3_590_000); // the default loadedTtlMs, in ms
      await cache.del(flagKey); // the data and its flag go together
      expect(await status.isLoaded('u')).toBe(false);
      await lock.ensureLoaded('u', () => Promise.resolve(++runs));
      expect(runs).toBe(2);
    } finally {
      await app.close();
    }
  });

  it('cache: true without CacheModule fails at boot with LoadStatusConfigError saying what to import', async () => {
    const compiling = Test.createTestingModule({
      imports: [LoadStatusModule.forRoot({ cache: true })],
    }).compile();
    await expect(compiling).rejects.toThrow(LoadStatusConfigError);
    await expect(
      Test.createTestingModule({ imports: [LoadStatusModule.forRoot({ cache: true })] }).compile(),
    ).rejects.toThrow(
      /import CacheModule\.register\(\{ isGlobal: true \}\) from @nestjs\/cache-manager/,
    );
  });

  it('rejects a cache that is not a cache-manager Cache', async () => {
    await expect(
      Test.createTestingModule({
        imports: [LoadStatusModule.forRoot({ cache: {} as never })],
      }).compile(),
    ).rejects.toThrow(/"cache": expected true/);
  });

  it('keeps flags in a Redis-backed Keyv cache and locks in Redis, across two apps', async () => {
    const prefix = uniquePrefix('cmr');
    const caches = [0, 1].map(() =>
      createCache({ stores: [new Keyv({ store: new KeyvRedis(redisUrl()) })] }),
    );
    const apps = await Promise.all(
      caches.map(async (cache) => {
        const moduleRef = await Test.createTestingModule({
          imports: [LoadStatusModule.forRoot({ cache, redis: redisUrl(), keyPrefix: prefix })],
        }).compile();
        moduleRef.useLogger(false);
        return moduleRef.init();
      }),
    );
    const redis = inspector();
    try {
      let runs = 0;
      const loader = async () => {
        runs++;
        await new Promise((r) => setTimeout(r, 50));
      };
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          apps[i % 2].get(LoadLockService).ensureLoaded('shared', loader),
        ),
      );
      expect(runs).toBe(1);
      expect(await caches[1].get(userKey(prefix, 'shared', 'loaded'))).toBeDefined();
      // The flag is not in the lock store's keys: it lives in the cache.
      expect(await redis.exists(userKey(prefix, 'shared', 'loaded'))).toBe(0);
      expect(await redis.exists(userKey(prefix, 'shared', 'fence'))).toBe(1);
    } finally {
      await redis.quit();
      await Promise.all(apps.map((a) => a.close()));
      await Promise.all(caches.map((c) => c.disconnect()));
    }
  });

  describe('a cache that stops answering', () => {
    // A cache whose backend is down and queues every call: nothing ever settles.
    const hanging = {
      get: () => new Promise<never>(() => undefined),
      set: () => new Promise<never>(() => undefined),
      del: () => new Promise<never>(() => undefined),
      ttl: () => new Promise<never>(() => undefined),
    };

    it('fails fast with LoadStatusUnavailableError under fail-closed', async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [
          LoadStatusModule.forRoot({
            cache: hanging,
            onStoreError: 'fail-closed',
            commandTimeoutMs: 100,
          }),
        ],
      }).compile();
      const app = await moduleRef.init();
      try {
        const started = performance.now();
        await expect(app.get(LoadStatusService).isLoaded('u')).rejects.toThrow(
          /unavailable during isLoaded/,
        );
        expect(performance.now() - started).toBeLessThan(1_000);
      } finally {
        await app.close();
      }
    });

    it('reads flags as not loaded and loads (once per flight) without hanging under fail-open', async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [LoadStatusModule.forRoot({ cache: hanging, commandTimeoutMs: 100 })],
      }).compile();
      moduleRef.useLogger(false);
      const app = await moduleRef.init();
      try {
        let runs = 0;
        const outcomes = await Promise.all(
          Array.from({ length: 10 }, () =>
            app.get(LoadLockService).ensureLoaded('u', () => Promise.resolve(++runs)),
          ),
        );
        expect(runs).toBe(1);
        expect(outcomes.every((o) => o.status === 'loaded')).toBe(true);
      } finally {
        await app.close();
      }
    });
  });
});
