/**
 * The compatibility matrix (no Jest): the packed tarball installed, as a user installs it, into a
 * fresh app per row — strict peer resolution (no --force, no --legacy-peer-deps), a strict type
 * check of the shipped declarations (`skipLibCheck: false`) in an app that has only the row's
 * client library, a boot, and a two-process stampede through `@WithUserLoadLock()` in which the
 * loader must run once. `npm run test:compat` runs every row (test/compat/run.ts), after it
 * checked what the tarball ships (`tarballProblems`); `npm run test:package` runs only the
 * representative row.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { NODE_VERSIONS, nodeBinary, pathWith, type NodeMajor } from '../support/node-versions';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '..', '..');

export type NestMajor = 10 | 11 | 12;
/** How the row's app hands Redis to the module. */
export type RowClient =
  | 'ioredis-url'
  | 'ioredis-client'
  | 'node-redis-client'
  | 'node-redis-url'
  /** An iovalkey `Redis` (the Valkey project's fork of ioredis), borrowed; ioredis not installed. */
  | 'iovalkey-client'
  /** `cache: true` with `@keyv/redis` flags and a URL for the locks: neither client installed. */
  | 'cache-manager'
  /** No Nest installed at all: `createLoadStatus()` from `nestjs-load-status/standalone`, ioredis. */
  | 'standalone'
  /** An app's own test suite on the in-memory store, with `nestjs-load-status/testing`: Jest. */
  | 'testing-jest'
  /** The same suite under Vitest (SWC for Nest's decorator metadata). */
  | 'testing-vitest';

export interface MatrixRow {
  name: string;
  nest: NestMajor;
  client: RowClient;
  /** The client library's major (ioredis 5/6, redis 5/6) or cache-manager's (6/7); iovalkey: its minor (0.x). */
  libraryMajor: number;
  /** `"type": "module"` and `module: nodenext`. */
  esm?: boolean;
  /**
   * Also runs the health indicator under the row's @nestjs/terminus major: `isHealthyOrThrow()`
   * on 10 and 11, `isHealthy()` on 12, up (this app) and down (a second app, fail-closed, whose
   * Redis is unreachable).
   */
  health?: boolean;
  /**
   * The Node.js major the row's install, type check and app run on (the exact version of
   * `NODE_VERSIONS`, from the npm registry); unset: the Node running the matrix.
   */
  node?: NodeMajor;
}

/** Every row `npm run test:compat` runs. */
export const MATRIX: readonly MatrixRow[] = [
  ...([10, 11, 12] as const).flatMap((nest): MatrixRow[] => [
    { name: `nest${nest}-ioredis5`, nest, client: 'ioredis-url', libraryMajor: 5, health: true },
    { name: `nest${nest}-ioredis6`, nest, client: 'ioredis-client', libraryMajor: 6 },
    { name: `nest${nest}-redis5`, nest, client: 'node-redis-client', libraryMajor: 5 },
    { name: `nest${nest}-redis6`, nest, client: 'node-redis-url', libraryMajor: 6 },
  ]),
  { name: 'nest10-cache-manager6', nest: 10, client: 'cache-manager', libraryMajor: 6 },
  { name: 'nest11-cache-manager7', nest: 11, client: 'cache-manager', libraryMajor: 7 },
  { name: 'nest12-cache-manager7', nest: 12, client: 'cache-manager', libraryMajor: 7 },
  { name: 'nest12-ioredis6-esm', nest: 12, client: 'ioredis-client', libraryMajor: 6, esm: true },
  { name: 'nest12-iovalkey', nest: 12, client: 'iovalkey-client', libraryMajor: 4 },
  { name: 'nest10-redis5-esm', nest: 10, client: 'node-redis-client', libraryMajor: 5, esm: true },
  // `nest` is unused here: the app has no Nest package (the row checks that none was installed).
  { name: 'node-standalone-ioredis6', nest: 12, client: 'standalone', libraryMajor: 6 },
  // `libraryMajor`: the test runner's (Jest 30, Vitest 4).
  { name: 'nest12-testing-jest', nest: 12, client: 'testing-jest', libraryMajor: 30 },
  { name: 'nest12-testing-vitest', nest: 12, client: 'testing-vitest', libraryMajor: 4 },
  // Every Node.js the package supports: the newest Nest as an ES module app, the oldest Nest
  // with node-redis, and no Nest at all.
  ...(Object.keys(NODE_VERSIONS).map(Number) as NodeMajor[]).flatMap((node): MatrixRow[] => [
    {
      name: `node${node}-nest12-ioredis6-esm`,
      nest: 12,
      client: 'ioredis-client',
      libraryMajor: 6,
      esm: true,
      node,
    },
    {
      name: `node${node}-nest10-redis5`,
      nest: 10,
      client: 'node-redis-client',
      libraryMajor: 5,
      node,
    },
    {
      name: `node${node}-standalone-ioredis6`,
      nest: 12,
      client: 'standalone',
      libraryMajor: 6,
      node,
    },
  ]),
];

/** The row `npm test` runs: the newest of everything, as an ES module app. */
export const REPRESENTATIVE_ROW = 'nest12-ioredis6-esm';

export interface RowResult {
  row: MatrixRow;
  ok: boolean;
  /** Versions npm actually installed, by package. */
  installed: Record<string, string>;
  /** Loader runs across both processes (must be 1). */
  loaderRuns?: number;
  callers?: number;
  /** `process.version` of the row's app processes (both report it). */
  node?: string;
  /** Rows with `health`: what terminus said of the up app and of the down one. */
  health?: string;
  seconds: { install: number; typecheck: number; run: number; total: number };
  error?: string;
}

/** Dependencies of a row's app, as a user would write them. */
function dependenciesOf(row: MatrixRow): Record<string, string> {
  if (row.client === 'standalone') {
    return { ioredis: `^${row.libraryMajor}.0.0`, '@types/redis-errors': '^1.2.3', rxjs: '^7.8.1' };
  }
  if (row.client === 'testing-jest' || row.client === 'testing-vitest') {
    return {
      '@nestjs/common': `^${row.nest}.0.0`,
      '@nestjs/core': `^${row.nest}.0.0`,
      '@nestjs/testing': `^${row.nest}.0.0`,
      'reflect-metadata': '^0.2.2',
      rxjs: '^7.8.1',
    };
  }
  const deps: Record<string, string> = {
    '@nestjs/common': `^${row.nest}.0.0`,
    '@nestjs/core': `^${row.nest}.0.0`,
    'reflect-metadata': '^0.2.2',
    rxjs: '^7.8.1',
  };
  if (row.health) deps['@nestjs/terminus'] = `^${row.nest}.0.0`;
  switch (row.client) {
    case 'iovalkey-client':
      deps.iovalkey = `^0.${row.libraryMajor}.0`;
      break;
    case 'ioredis-url':
    case 'ioredis-client':
      deps.ioredis = `^${row.libraryMajor}.0.0`;
      // ioredis 6.1's own declarations import `redis-errors`, which ships no types: a strict
      // (skipLibCheck: false) app needs @types/redis-errors, whatever this package does.
      if (row.libraryMajor === 6) deps['@types/redis-errors'] = '^1.2.3';
      break;
    case 'node-redis-client':
    case 'node-redis-url':
      deps.redis = `^${row.libraryMajor}.0.0`;
      break;
    case 'cache-manager':
      deps['cache-manager'] = `^${row.libraryMajor}.0.0`;
      deps['@nestjs/cache-manager'] = row.nest === 12 ? '^12.0.0' : '^3.0.0';
      deps.keyv = '^5.6.0';
      deps['@keyv/redis'] = '^5.1.6';
      // @nestjs/cache-manager's own declarations import `cacheable` without depending on it: a
      // strict (skipLibCheck: false) app needs it installed, whatever this package does.
      deps.cacheable = '^2.0.0';
      break;
  }
  return deps;
}

/** The part of the app that differs per client: how `redis` (and `cache`) are given. */
function redisModule(row: MatrixRow): string {
  switch (row.client) {
    case 'standalone':
    case 'testing-jest':
    case 'testing-vitest':
      return 'export {};\n';
    case 'ioredis-url':
    case 'node-redis-url':
      return `import type { LoadStatusModuleOptions } from 'nestjs-load-status';
export const extraImports: unknown[] = [];
export async function redisOptions(url: string): Promise<{ options: LoadStatusModuleOptions; close(): Promise<void> }> {
  return { options: { redis: url }, close: async () => undefined };
}
`;
    case 'iovalkey-client':
    case 'ioredis-client':
      // iovalkey has ioredis's API: the app differs only in the package it imports.
      return `import { Redis } from '${row.client === 'iovalkey-client' ? 'iovalkey' : 'ioredis'}';
import type { LoadStatusModuleOptions } from 'nestjs-load-status';
export const extraImports: unknown[] = [];
export async function redisOptions(url: string): Promise<{ options: LoadStatusModuleOptions; close(): Promise<void> }> {
  const client = new Redis(url);
  return { options: { redis: client }, close: async () => void (await client.quit()) };
}
`;
    case 'node-redis-client':
      return `import { createClient } from 'redis';
import type { LoadStatusModuleOptions } from 'nestjs-load-status';
export const extraImports: unknown[] = [];
export async function redisOptions(url: string): Promise<{ options: LoadStatusModuleOptions; close(): Promise<void> }> {
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  return { options: { redis: client }, close: async () => void (await client.close()) };
}
`;
    case 'cache-manager':
      return `import { CacheModule } from '@nestjs/cache-manager';
import KeyvRedis from '@keyv/redis';
import type { LoadStatusModuleOptions } from 'nestjs-load-status';
export let extraImports: unknown[] = [];
export async function redisOptions(url: string): Promise<{ options: LoadStatusModuleOptions; close(): Promise<void> }> {
  extraImports = [CacheModule.register({ isGlobal: true, stores: [new KeyvRedis(url)] })];
  return { options: { cache: true, redis: url }, close: async () => undefined };
}
`;
  }
}

/**
 * The health part of the app (rows with `health`): terminus reports this app up, and a second
 * app whose Redis is unreachable, under fail-closed, down.
 */
function healthModule(row: MatrixRow): string {
  if (row.client === 'standalone' || row.client.startsWith('testing-')) return 'export {};\n';
  if (!row.health) {
    return `export const healthImports: unknown[] = [];
export async function checkHealth(_app: unknown): Promise<Record<string, string>> {
  return {};
}
`;
  }
  const indicatorCall = row.nest === 12 ? 'isHealthy()' : 'isHealthyOrThrow()';
  return `import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { LoadStatusHealthIndicator, LoadStatusModule } from 'nestjs-load-status';

export const healthImports: unknown[] = [TerminusModule];

async function status(app: INestApplicationContext): Promise<string> {
  const indicator = app.get(LoadStatusHealthIndicator);
  try {
    return (await app.get(HealthCheckService).check([() => indicator.${indicatorCall}])).status;
  } catch (error) {
    // terminus throws a ServiceUnavailableException carrying its result when a check is down.
    return (error as { getResponse?: () => { status?: string } }).getResponse?.().status ?? String(error);
  }
}

export async function checkHealth(app: INestApplicationContext): Promise<Record<string, string>> {
  @Module({
    imports: [
      TerminusModule,
      LoadStatusModule.forRoot({
        redis: 'redis://127.0.0.1:1',
        onStoreError: 'fail-closed',
        commandTimeoutMs: 200,
        keyPrefix: 'compat-health-down',
      }),
    ],
  })
  class DownModule {}
  const down = await NestFactory.createApplicationContext(DownModule, { logger: false });
  try {
    return { healthUp: await status(app), healthDown: await status(down) };
  } finally {
    await down.close();
  }
}
`;
}

/** The app: boots, says ready, fires 20 concurrent decorated calls on "go", reports, closes. */
function mainModule(row: MatrixRow): string {
  if (row.client === 'standalone') return standaloneMainModule();
  if (row.client.startsWith('testing-')) return TESTED_SERVICE;
  const js = row.esm ? '.js' : '';
  return `import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  LoadLockService,
  LoadStatusModule,
  WithUserLoadLock,
  type LoadOutcome,
} from 'nestjs-load-status';
import { extraImports, redisOptions } from './redis${js}';
import { checkHealth, healthImports } from './health${js}';

@Injectable()
class UserLoader {
  runs = 0;
  @WithUserLoadLock({ loadedTtlMs: 60_000 })
  async load(userId: string): Promise<string | undefined> {
    this.runs++;
    await new Promise((r) => setTimeout(r, 300));
    return 'data of ' + userId;
  }
}

async function main(): Promise<void> {
  const redis = await redisOptions(process.env.REDIS_URL!);
  @Module({
    imports: [
      ...(extraImports as []),
      ...(healthImports as []),
      LoadStatusModule.forRoot({ keyPrefix: process.env.KEY_PREFIX, ...redis.options }),
    ],
    providers: [UserLoader],
  })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  const loader = app.get(UserLoader);
  const locks = app.get(LoadLockService);
  process.stdout.write('ready\\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  process.stdin.destroy();
  const calls = await Promise.allSettled(Array.from({ length: 20 }, () => loader.load('cold-user')));
  const typed: LoadOutcome<number> = await locks.ensureLoaded('typed-' + process.pid, async (ctx) => ctx.fencingToken ?? 0);
  const failed = calls.filter((c) => c.status === 'rejected').map((c) => String((c as PromiseRejectedResult).reason));
  const health = await checkHealth(app);
  process.stdout.write(JSON.stringify({ node: process.version, runs: loader.runs, callers: calls.length, failed, typed: typed.status, ...health }) + '\\n');
  await app.close();
  await redis.close();
}
main().catch((error: unknown) => {
  process.stderr.write('app failed: ' + String(error instanceof Error ? error.stack : error) + '\\n');
  process.exit(1);
});
`;
}

/**
 * The standalone app: no Nest installed; `createLoadStatus()` on a URL, a key-neutral decorator on
 * a plain class, 20 concurrent calls on "go"; it reports, and which `@nestjs` packages it has.
 */
function standaloneMainModule(): string {
  return `import { existsSync } from 'node:fs';
import { createLoadStatus, WithLoadLock, type LoadOutcome } from 'nestjs-load-status/standalone';

class ReportBuilder {
  runs = 0;
  @WithLoadLock({ name: 'reports', loadedTtlMs: 60_000 })
  async build(tenant: string): Promise<string | undefined> {
    this.runs++;
    await new Promise((r) => setTimeout(r, 300));
    return 'report of ' + tenant;
  }
}

async function main(): Promise<void> {
  const loadStatus = await createLoadStatus({
    store: 'redis',
    redis: process.env.REDIS_URL,
    keyPrefix: process.env.KEY_PREFIX,
  });
  const builder = new ReportBuilder();
  process.stdout.write('ready\\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  process.stdin.destroy();
  const calls = await Promise.allSettled(Array.from({ length: 20 }, () => builder.build('cold-tenant')));
  const typed: LoadOutcome<number> = await loadStatus.locks.ensureLoaded('typed-' + process.pid, async (ctx) => ctx.fencingToken ?? 0);
  const failed = calls.filter((c) => c.status === 'rejected').map((c) => String((c as PromiseRejectedResult).reason));
  if (existsSync('node_modules/@nestjs')) failed.push('an @nestjs package is installed');
  const loadedNest = Object.keys(require.cache).filter((p) => p.includes('@nestjs'));
  if (loadedNest.length > 0) failed.push('loaded ' + loadedNest.join(', '));
  process.stdout.write(JSON.stringify({ node: process.version, runs: builder.runs, callers: calls.length, failed, typed: typed.status }) + '\\n');
  await loadStatus.close();
}
main().catch((error: unknown) => {
  process.stderr.write('app failed: ' + String(error instanceof Error ? error.stack : error) + '\\n');
  process.exit(1);
});
`;
}

/** The app's service its own tests exercise (src/main.ts of the testing rows). */
const TESTED_SERVICE = `import { Injectable } from '@nestjs/common';
import { WithUserLoadLock } from 'nestjs-load-status';
import { resetLoadStatus } from 'nestjs-load-status/testing';

// The testing entry's declarations are part of what the strict check reads.
export const reset: typeof resetLoadStatus = resetLoadStatus;

@Injectable()
export class UserDataService {
  runs = 0;
  @WithUserLoadLock({ name: 'servers' })
  async loadServers(userId: string): Promise<string | undefined> {
    this.runs++;
    await new Promise((r) => setTimeout(r, 20));
    return 'servers of ' + userId;
  }
}
`;

/** The app's own spec, for Jest or Vitest: loads once, and reset() makes the next test cold. */
function testingSpec(row: MatrixRow): string {
  const runner =
    row.client === 'testing-vitest'
      ? "import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';\n"
      : '';
  return `import 'reflect-metadata';
${runner}import { Test } from '@nestjs/testing';
import type { INestApplicationContext } from '@nestjs/common';
import { LoadStatusModule, LoadStatusService } from 'nestjs-load-status';
import { resetLoadStatus } from 'nestjs-load-status/testing';
import { UserDataService } from '../src/main';

let app: INestApplicationContext;
beforeAll(async () => {
  const moduleRef = await Test.createTestingModule({
    imports: [LoadStatusModule.forRoot({ store: 'memory' })],
    providers: [UserDataService],
  }).compile();
  app = await moduleRef.init();
});
afterEach(() => resetLoadStatus(app.get(LoadStatusService)));
afterAll(() => app.close());

it('loads once for concurrent calls', async () => {
  const service = app.get(UserDataService);
  const results = await Promise.all([service.loadServers('u1'), service.loadServers('u1')]);
  expect(service.runs).toBe(1);
  expect(results).toEqual(['servers of u1', 'servers of u1']);
  expect(await service.loadServers('u1')).toBeUndefined();
});

it('starts cold after resetLoadStatus()', async () => {
  const service = app.get(UserDataService);
  expect(await app.get(LoadStatusService).isLoaded('u1', { name: 'servers' })).toBe(false);
  await service.loadServers('u1');
  expect(service.runs).toBe(2);
});
`;
}

/** Runner configuration and dev dependencies of a testing row. */
function testRunnerOf(row: MatrixRow): {
  devDependencies: Record<string, string>;
  files: Record<string, string>;
  command: string[];
} {
  if (row.client === 'testing-vitest') {
    return {
      devDependencies: {
        vitest: `^${row.libraryMajor}.0.0`,
        'unplugin-swc': '^1.5.0',
        '@swc/core': '^1.10.0',
      },
      files: {
        'vitest.config.mjs': `import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';
export default defineConfig({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: { include: ['test/**/*.spec.ts'] },
});
`,
      },
      command: ['node_modules/.bin/vitest', 'run'],
    };
  }
  return {
    devDependencies: {
      jest: `^${row.libraryMajor}.0.0`,
      '@swc/jest': '^0.2.39',
      '@swc/core': '^1.10.0',
      '@types/jest': `^${row.libraryMajor}.0.0`,
    },
    files: {
      // Nest 12 ships ES modules only (and so do a few packages @nestjs/common loads): Jest's
      // CommonJS runtime needs them transformed like the app's own code, as the README says.
      'jest.config.js': `module.exports = {
  testEnvironment: 'node',
  testMatch: ['**/test/**/*.spec.ts'],
  transform: {
    '^.+\\\\.(t|j|mj)s$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true } }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs|file-type|strtok3|token-types|@tokenizer|@borewit|uint8array-extras)/)'],
};
`,
    },
    command: ['node_modules/.bin/jest', '--ci', '--detectOpenHandles'],
  };
}

function tsconfigOf(row: MatrixRow): object {
  return {
    compilerOptions: {
      target: 'ES2022',
      module: row.esm ? 'nodenext' : 'commonjs',
      moduleResolution: row.esm ? 'nodenext' : 'node10',
      strict: true,
      // The shipped declarations must type-check in full, with only this row's libraries.
      skipLibCheck: false,
      esModuleInterop: true,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      outDir: 'dist',
      types: ['node'],
    },
    include: ['src'],
  };
}

/** Packs the package once (runs its prepack build) and returns the tarball's path. */
export async function packTarball(
  dir: string,
): Promise<{ tarball: string; files: string[]; size: number }> {
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: ROOT,
    maxBuffer: 16 << 20,
  });
  const [info] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{
    filename: string;
    size: number;
    files: Array<{ path: string }>;
  }>;
  return {
    tarball: join(dir, info.filename),
    files: info.files.map((f) => f.path),
    size: info.size,
  };
}

/** What the package ships besides `dist/`: the docs npm always includes. */
const SHIPPED_DOCS = ['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json'];
/** What it must ship: the compiled entry point, its declarations, the docs. */
const REQUIRED = [
  'dist/index.js',
  'dist/index.d.ts',
  'dist/standalone.js',
  'dist/standalone.d.ts',
  ...SHIPPED_DOCS,
];

/**
 * What is wrong with the packed file list, one line each ([] = it ships the compiled code, its
 * declarations and the docs, nothing else).
 */
export function tarballProblems(files: readonly string[]): string[] {
  const missing = REQUIRED.filter((f) => !files.includes(f)).map((f) => `missing: ${f}`);
  const stray = files
    .filter((f) => !f.startsWith('dist/') && !SHIPPED_DOCS.includes(f))
    .map((f) => `not meant to ship: ${f}`);
  return [...missing, ...stray];
}

const since = (t: number): number => Math.round((performance.now() - t) / 100) / 10;

/** Builds, installs, type-checks and runs one row in `workDir`; never throws. */
export async function runRow(
  row: MatrixRow,
  tarball: string,
  redisUrl: string,
  workDir: string,
): Promise<RowResult> {
  const started = performance.now();
  const seconds = { install: 0, typecheck: 0, run: 0, total: 0 };
  const result: RowResult = { row, ok: false, installed: {}, seconds };
  const app = join(workDir, row.name);
  const testing = row.client.startsWith('testing-');
  try {
    // The row's Node runs npm (its engines check), tsc, the test runner and the app processes.
    const node =
      row.node === undefined ? process.execPath : await nodeBinary(NODE_VERSIONS[row.node]);
    const env = { ...process.env, PATH: pathWith(node) };
    mkdirSync(join(app, 'src'), { recursive: true });
    const versions = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
        devDependencies: Record<string, string>;
      }
    ).devDependencies;
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify(
        {
          name: `compat-${row.name}`,
          private: true,
          ...(row.esm ? { type: 'module' } : {}),
          dependencies: { 'nestjs-load-status': `file:${tarball}`, ...dependenciesOf(row) },
          devDependencies: {
            typescript: versions.typescript,
            '@types/node': versions['@types/node'],
            ...(testing ? testRunnerOf(row).devDependencies : {}),
          },
        },
        null,
        2,
      ),
    );
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfigOf(row), null, 2));
    writeFileSync(join(app, 'src', 'redis.ts'), redisModule(row));
    writeFileSync(join(app, 'src', 'health.ts'), healthModule(row));
    writeFileSync(join(app, 'src', 'main.ts'), mainModule(row));
    if (testing) {
      mkdirSync(join(app, 'test'), { recursive: true });
      writeFileSync(join(app, 'test', 'app.spec.ts'), testingSpec(row));
      for (const [file, text] of Object.entries(testRunnerOf(row).files))
        writeFileSync(join(app, file), text);
    }

    let t = performance.now();
    // Strict peer resolution, as a user's `npm install` does it: an ERESOLVE fails the row.
    // Engines are not strict: Nest 12 depends on file-type 22, which declares Node >= 22, so a
    // strict install of any Nest 12 app fails on Node 20.19, where it runs (the node20 rows).
    // That this package's `engines` admits each row's Node is test/compat/engines.spec.ts.
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'],
      {
        cwd: app,
        env,
        maxBuffer: 16 << 20,
      },
    );
    seconds.install = since(t);
    result.installed = installedVersions(app, row);

    t = performance.now();
    await run(join(app, 'node_modules', '.bin', 'tsc'), ['-p', '.'], {
      cwd: app,
      env,
      maxBuffer: 16 << 20,
    });
    seconds.typecheck = since(t);

    t = performance.now();
    if (testing) {
      // The app's own suite: its runner exits non-zero on a failed test (or an open handle).
      const [command, ...args] = testRunnerOf(row).command;
      const { stdout, stderr } = await run(join(app, command), args, {
        cwd: app,
        maxBuffer: 16 << 20,
        env: { ...env, CI: 'true' },
      });
      const report = `${stdout}\n${stderr}`;
      if (!/2 passed/.test(report)) throw new Error(`the app's tests did not pass:\n${report}`);
      seconds.run = since(t);
      result.ok = true;
      return result;
    }
    const stampede = await twoProcessStampede(app, redisUrl, row, node);
    seconds.run = since(t);
    result.node = [...new Set(stampede.node)].join(', ');
    if (row.node !== undefined && result.node !== `v${NODE_VERSIONS[row.node]}`)
      throw new Error(`the app ran on Node ${result.node}, not v${NODE_VERSIONS[row.node]}`);
    result.loaderRuns = stampede.runs;
    result.callers = stampede.callers;
    if (stampede.failed.length > 0)
      throw new Error(`callers failed: ${stampede.failed.join('; ')}`);
    if (stampede.runs !== 1)
      throw new Error(`the loader ran ${stampede.runs} times, expected once`);
    if (stampede.typed.some((s) => s !== 'loaded'))
      throw new Error(`ensureLoaded returned ${stampede.typed.join(', ')}`);
    if (row.health) {
      const health = stampede.health.join(', ');
      if (health !== 'ok/error, ok/error') throw new Error(`health (up/down) was ${health}`);
      result.health = stampede.health[0];
    }
    result.ok = true;
  } catch (error) {
    result.error = describeError(error);
  } finally {
    seconds.total = since(started);
  }
  return result;
}

function describeError(error: unknown): string {
  const e = error as { message?: string; stdout?: string; stderr?: string };
  return [e.message ?? String(error), e.stdout, e.stderr]
    .filter((part) => part && part.trim())
    .join('\n')
    .slice(0, 4_000);
}

function installedVersions(app: string, row: MatrixRow): Record<string, string> {
  const names = ['@nestjs/common', '@nestjs/core', 'rxjs', 'reflect-metadata', 'typescript'];
  if (row.client === 'testing-jest') names.push('jest');
  if (row.client === 'testing-vitest') names.push('vitest');
  if (row.health) names.push('@nestjs/terminus');
  names.push(...Object.keys(dependenciesOf(row)).filter((n) => !names.includes(n)));
  const out: Record<string, string> = {};
  for (const name of names) {
    try {
      const pkg = JSON.parse(
        readFileSync(join(app, 'node_modules', name, 'package.json'), 'utf8'),
      ) as { version: string };
      out[name] = pkg.version;
    } catch {
      // not installed (shown as missing)
    }
  }
  return out;
}

interface AppReport {
  node: string;
  runs: number;
  callers: number;
  failed: string[];
  typed: string;
  healthUp?: string;
  healthDown?: string;
}

/** Two app processes on one Redis: both boot, then both fire their calls at once. */
async function twoProcessStampede(
  app: string,
  redisUrl: string,
  row: MatrixRow,
  node: string,
): Promise<{
  node: string[];
  runs: number;
  callers: number;
  failed: string[];
  typed: string[];
  health: string[];
}> {
  const env = {
    ...process.env,
    REDIS_URL: redisUrl,
    KEY_PREFIX: `compat-${row.name}-${process.pid}`,
  };
  const children = [0, 1].map(() =>
    spawn(node, ['dist/main.js'], { cwd: app, env, stdio: ['pipe', 'pipe', 'pipe'] }),
  );
  try {
    const outputs = children.map((child) => collect(child));
    await Promise.all(outputs.map((o) => o.line((l) => l === 'ready', 30_000)));
    for (const child of children) child.stdin.write('go\n');
    const reports = await Promise.all(
      outputs.map(
        async (o) => JSON.parse(await o.line((l) => l.startsWith('{'), 30_000)) as AppReport,
      ),
    );
    // Each process must exit by itself after app.close(): nothing left open.
    const exits = await Promise.all(outputs.map((o) => o.exit(10_000)));
    exits.forEach((code, i) => {
      if (code !== 0) throw new Error(`app process ${i} exited with ${code}: ${outputs[i].text()}`);
    });
    return {
      node: reports.map((r) => r.node),
      runs: reports.reduce((n, r) => n + r.runs, 0),
      callers: reports.reduce((n, r) => n + r.callers, 0),
      failed: reports.flatMap((r) => r.failed),
      typed: reports.map((r) => r.typed),
      health: reports.map((r) => `${r.healthUp}/${r.healthDown}`),
    };
  } finally {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

function collect(child: ChildProcess) {
  let text = '';
  const waiters = new Set<() => void>();
  const changed = () => waiters.forEach((w) => w());
  child.stdout!.on('data', (chunk: Buffer) => ((text += chunk.toString()), changed()));
  child.stderr!.on('data', (chunk: Buffer) => ((text += chunk.toString()), changed()));
  let exitCode: number | string | undefined;
  child.once('exit', (code, signal) => ((exitCode = code ?? signal ?? undefined), changed()));
  const until = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(test);
        reject(new Error(`app: no ${what} within ${timeoutMs} ms; output:\n${text}`));
      }, timeoutMs);
      const test = () => {
        const value = check();
        if (value === undefined) {
          if (exitCode !== undefined && what !== 'exit') {
            clearTimeout(timer);
            waiters.delete(test);
            reject(new Error(`app exited (${exitCode}) before ${what}; output:\n${text}`));
          }
          return;
        }
        clearTimeout(timer);
        waiters.delete(test);
        resolvePromise(value);
      };
      waiters.add(test);
      test();
    });
  return {
    text: () => text,
    line: (match: (line: string) => boolean, timeoutMs: number) =>
      until(
        () =>
          text
            .split('\n')
            .find((l) => match(l.trim()))
            ?.trim(),
        timeoutMs,
        'expected line',
      ),
    exit: (timeoutMs: number) => until(() => exitCode, timeoutMs, 'exit'),
  };
}

/** A temp dir for one matrix run; remove it with the returned function. */
export function workDirectory(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'load-status-compat-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The matrix as a Markdown table. */
export function matrixTable(results: RowResult[]): string {
  const lines = [
    '| row | Node | Nest | client | installed | module | result | loader runs | terminus up/down | install / tsc / run s |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const v = r.installed;
    const library = r.row.client.startsWith('testing-')
      ? `${r.row.client.slice('testing-'.length)} ${v.jest ?? v.vitest ?? '?'} (memory store)`
      : r.row.client === 'cache-manager'
        ? `cache-manager ${v['cache-manager'] ?? '?'} + @nestjs/cache-manager ${v['@nestjs/cache-manager'] ?? '?'}`
        : r.row.client === 'iovalkey-client'
          ? `iovalkey ${v.iovalkey ?? '?'}`
          : r.row.client.startsWith('ioredis') || r.row.client === 'standalone'
            ? `ioredis ${v.ioredis ?? '?'}`
            : `redis ${v.redis ?? '?'}`;
    lines.push(
      `| ${r.row.name} | ${r.node ?? (r.row.node === undefined ? process.version : `v${NODE_VERSIONS[r.row.node]}`)} | ${r.row.client === 'standalone' ? 'none' : (v['@nestjs/core'] ?? '?')} | ${r.row.client} | ${library}, rxjs ${v.rxjs ?? '?'} | ${r.row.esm ? 'ESM' : 'CJS'} | ${r.ok ? 'pass' : 'FAIL'} | ${r.loaderRuns ?? '–'} | ${r.health ? `${r.installed['@nestjs/terminus']}: ${r.health}` : '–'} | ${r.seconds.install} / ${r.seconds.typecheck} / ${r.seconds.run} |`,
    );
  }
  return lines.join('\n');
}
