import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { LoadLockService } from '../../src';
import { AppModule, type AppOptions } from '../../example/app.module';
import { UserDataCache, UserDataService } from '../../example/user-data.service';
import type { UserDataResponse } from '../../example/users.controller';
import { redisUrl, uniquePrefix } from '../support/env';

const LOAD_MS = 200;

/** The example app, listening on a free loopback port; closed by `afterEach`. */
const apps: INestApplication[] = [];
async function startApp(options: AppOptions): Promise<{ app: INestApplication; url: string }> {
  const moduleRef = await Test.createTestingModule({
    imports: [AppModule.register({ loadMs: LOAD_MS, ...options })],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['warn', 'error'] });
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  return { app, url: await app.getUrl() };
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function getData(url: string, user: string, via?: 'service'): Promise<UserDataResponse> {
  const response = await request(url)
    .get(`/users/${user}/data`)
    .query(via ? { via } : {});
  expect(response.status).toBe(200);
  return response.body as UserDataResponse;
}

function count<T>(items: T[], predicate: (item: T) => boolean): number {
  return items.filter(predicate).length;
}

describe.each([
  ['redis', () => redisUrl()],
  ['in-memory', () => undefined],
])('example app (%s store)', (_store, url) => {
  it('100 concurrent requests for one cold user run the decorated loader once', async () => {
    const { app, url: base } = await startApp({
      redisUrl: url(),
      keyPrefix: uniquePrefix('e2e'),
    });
    const responses = await Promise.all(Array.from({ length: 100 }, () => getData(base, 'alice')));

    expect(app.get(UserDataService).stats()).toEqual({ loaderRuns: 1, perUser: { alice: 1 } });
    // Exactly one request ran the loader. The others shared that run in this process ("joined",
    // they receive its value) or, had they arrived after it finished, found alice loaded.
    expect(count(responses, (r) => r.loadedHere)).toBe(1);
    expect(count(responses, (r) => r.outcome === 'ran')).toBe(1);
    for (const r of responses) {
      expect(['ran', 'joined', 'skipped']).toContain(r.outcome);
      expect(r.data).toMatchObject({ userId: 'alice', run: 1 });
    }
    // Every response carries the same data, stamped by the request that loaded it.
    const loader = responses.find((r) => r.loadedHere)!;
    expect(new Set(responses.map((r) => r.data!.loadedBy))).toEqual(
      new Set([loader.data!.loadedBy]),
    );

    // Warm now: no further run, and the decorator reports that the loader did not run.
    const warm = await getData(base, 'alice');
    expect(warm).toMatchObject({ loadedHere: false, outcome: 'skipped', data: { run: 1 } });
    expect(app.get(UserDataService).loaderRuns).toBe(1);
  });

  it('DELETE /users/:id/loaded makes the next request load again', async () => {
    const { app, url: base } = await startApp({ redisUrl: url(), keyPrefix: uniquePrefix('e2e') });
    const agent = request(base);

    await agent.get('/users/bob/status').expect(200, { userId: 'bob', loaded: false });
    expect(await getData(base, 'bob')).toMatchObject({ loadedHere: true, data: { run: 1 } });
    await agent.get('/users/bob/status').expect(200, { userId: 'bob', loaded: true });
    expect(await getData(base, 'bob')).toMatchObject({ loadedHere: false, outcome: 'skipped' });

    await agent.delete('/users/bob/loaded').expect(204);
    await agent.get('/users/bob/status').expect(200, { userId: 'bob', loaded: false });

    expect(await getData(base, 'bob')).toMatchObject({ loadedHere: true, data: { run: 2 } });
    await agent.get('/stats').expect(200, { loaderRuns: 2, perUser: { bob: 2 } });
    expect(app.get(UserDataService).loaderRuns).toBe(2);
  });

  it('GET /users/:id/data?via=service uses LoadLockService.ensureLoaded the same way', async () => {
    const { app, url: base } = await startApp({ redisUrl: url(), keyPrefix: uniquePrefix('e2e') });
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => getData(base, 'carol', 'service')),
    );
    expect(app.get(UserDataService).loaderRuns).toBe(1);
    expect(count(responses, (r) => r.loadedHere)).toBe(1);
    for (const r of responses) expect(['ran', 'joined', 'already-loaded']).toContain(r.outcome);
    expect(await getData(base, 'carol', 'service')).toMatchObject({
      loadedHere: false,
      outcome: 'already-loaded',
    });
  });
});

describe('two example apps on one Redis', () => {
  // Each app has its own LoadStatusModule: its own LoadLockService, store and Redis connections.
  // The `?via=service` route calls the app's own LoadLockService.ensureLoaded, so the only thing
  // the two apps share is Redis (plus the data cache, which a real cluster shares too). The
  // decorated route is not used here: `@WithUserLoadLock()` resolves the most recently started
  // LoadLockService of the process, so in one process both apps' decorated methods would go
  // through the second app's service.
  it('100 concurrent requests split across both apps run the loader once in total', async () => {
    const keyPrefix = uniquePrefix('e2e-two');
    const cache = new UserDataCache();
    const a = await startApp({ redisUrl: redisUrl(), keyPrefix, cache });
    const b = await startApp({ redisUrl: redisUrl(), keyPrefix, cache });
    expect(a.app.get(LoadLockService)).not.toBe(b.app.get(LoadLockService));

    const burst = (base: string) =>
      Array.from({ length: 50 }, () => getData(base, 'dave', 'service'));
    const [fromA, fromB] = await Promise.all([
      Promise.all(burst(a.url)),
      Promise.all(burst(b.url)),
    ]);

    const runsA = a.app.get(UserDataService).loaderRuns;
    const runsB = b.app.get(UserDataService).loaderRuns;
    expect(runsA + runsB).toBe(1);
    const all = [...fromA, ...fromB];
    expect(count(all, (r) => r.loadedHere)).toBe(1);
    // The app that did not load waited for the other one (or found dave loaded) — never ran it.
    const [loading, other] = runsA === 1 ? [fromA, fromB] : [fromB, fromA];
    for (const r of loading) expect(['ran', 'joined', 'already-loaded']).toContain(r.outcome);
    for (const r of other) expect(['loaded-elsewhere', 'already-loaded']).toContain(r.outcome);
    // Both bursts overlapped the 200 ms load, so the other app really waited for it via Redis.
    expect(count(other, (r) => r.outcome === 'loaded-elsewhere')).toBeGreaterThan(0);
    for (const r of all) expect(r.data).toMatchObject({ userId: 'dave', run: 1 });

    // Clearing the flag through one app makes the next request through the other load again.
    await request(a.url).delete('/users/dave/loaded').expect(204);
    expect(await getData(b.url, 'dave', 'service')).toMatchObject({ loadedHere: true });
    expect(a.app.get(UserDataService).loaderRuns + b.app.get(UserDataService).loaderRuns).toBe(2);
  });
});

describe('example app metrics', () => {
  it('GET /metrics counts refresh-ahead loads (redis, refreshAheadMs)', async () => {
    const { app, url } = await startApp({
      redisUrl: redisUrl(),
      keyPrefix: uniquePrefix('e2e-refresh'),
      loadedTtlMs: 1_000,
      refreshAheadMs: 600,
    });
    await getData(url, 'active'); // cold load
    await new Promise((r) => setTimeout(r, 500)); // into the refresh window
    const served = await getData(url, 'active');
    expect(served.outcome).toBe('skipped'); // answered at once; the refresh runs behind it
    await new Promise((r) => setTimeout(r, LOAD_MS + 100));
    expect(app.get(UserDataService).stats().perUser).toEqual({ active: 2 });
    const metrics = (await request(url).get('/metrics')).text;
    expect(metrics).toMatch(/^load_status_refreshes_total\{result="started"\} 1$/m);
    expect(metrics).toMatch(/^load_status_refreshes_total\{result="succeeded"\} 1$/m);
  });
});
