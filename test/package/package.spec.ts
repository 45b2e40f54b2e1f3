import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(__dirname, '../..');

/**
 * The published package, as a user gets it: `npm pack`, installed from the tarball into a fresh
 * Nest 12 app in a temp dir (its own package.json, nothing imported from this repo), type-checked
 * against the shipped .d.ts, booted, and hit concurrently over HTTP.
 */
describe('the packed tarball in a fresh Nest app', () => {
  let dir: string;
  let tarball: string;
  let packedSize = 0;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'load-status-package-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: root,
      maxBuffer: 16 << 20,
    });
    const [info] = JSON.parse(stdout.slice(stdout.indexOf('['))) as Array<{
      filename: string;
      size: number;
      files: Array<{ path: string }>;
    }>;
    tarball = join(dir, info.filename);
    packedSize = info.size;
    const files = info.files.map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining([
        'dist/index.js',
        'dist/index.d.ts',
        'README.md',
        'LICENSE',
        'CHANGELOG.md',
        'package.json',
      ]),
    );
    expect(
      files.filter(
        (f) =>
          !f.startsWith('dist/') &&
          !['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json'].includes(f),
      ),
    ).toEqual([]);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('installs, type-checks against the published types, boots, and loads once under concurrent requests', async () => {
    const app = join(dir, 'app');
    mkdirSync(join(app, 'src'), { recursive: true });
    const versions = (
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
        devDependencies: Record<string, string>;
      }
    ).devDependencies;
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({
        name: 'fresh-nest-app',
        private: true,
        dependencies: {
          'nestjs-load-status': `file:${tarball}`,
          '@nestjs/common': versions['@nestjs/common'],
          '@nestjs/core': versions['@nestjs/core'],
          '@nestjs/platform-express': versions['@nestjs/platform-express'],
          'reflect-metadata': versions['reflect-metadata'],
          rxjs: versions.rxjs,
        },
        devDependencies: {
          typescript: versions.typescript,
          '@types/node': versions['@types/node'],
        },
      }),
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'commonjs',
          moduleResolution: 'node10',
          strict: true,
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          outDir: 'dist',
          types: ['node'],
          skipLibCheck: true,
        },
        include: ['src'],
      }),
    );
    writeFileSync(
      join(app, 'src/main.ts'),
      `import 'reflect-metadata';
import { Controller, Get, Injectable, Module, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { LoadLockService, LoadStatusModule, WithUserLoadLock, type LoadOutcome } from 'nestjs-load-status';

@Injectable()
class Loader {
  runs = 0;
  @WithUserLoadLock()
  async load(userId: string): Promise<string> {
    this.runs++;
    await new Promise((r) => setTimeout(r, 100));
    return 'data of ' + userId;
  }
}

@Controller()
class UsersController {
  constructor(private readonly loader: Loader, private readonly locks: LoadLockService) {}
  @Get('users/:id') async user(@Param('id') id: string) { return { value: (await this.loader.load(id)) ?? null }; }
  @Get('runs') runs() { return { runs: this.loader.runs }; }
  @Get('typed') async typed(): Promise<string> {
    const outcome: LoadOutcome<number> = await this.locks.ensureLoaded('typed', async (ctx) => ctx.fencingToken ?? 0);
    return outcome.status;
  }
}

@Module({ imports: [LoadStatusModule.forRoot()], providers: [Loader], controllers: [UsersController] })
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(AppModule, { logger: ['error'] });
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  process.stdout.write('listening ' + new URL(await app.getUrl()).port + '\\n');
}
void main();
`,
    );
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'],
      { cwd: app, maxBuffer: 16 << 20 },
    );
    await run(join(app, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: app }); // type errors fail here

    const child = spawn(process.execPath, ['dist/main.js'], {
      cwd: app,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<string>((r) =>
      child.once('exit', (code, signal) => r(signal ?? String(code))),
    );
    try {
      const port = await new Promise<number>((resolvePort, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /listening (\d+)/.exec(out);
          if (match) resolvePort(Number(match[1]));
        });
        child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.once('exit', (code) => reject(new Error(`app exited with ${code}: ${out}`)));
      });
      const base = `http://127.0.0.1:${port}`;
      const bodies = await Promise.all(
        Array.from(
          { length: 50 },
          async () =>
            (await fetch(`${base}/users/alice`)).json() as Promise<{ value: string | null }>,
        ),
      );
      expect(bodies.every((b) => b.value === 'data of alice')).toBe(true);
      expect(await (await fetch(`${base}/runs`)).json()).toEqual({ runs: 1 });
      expect(await (await fetch(`${base}/typed`)).text()).toBe('loaded');
    } finally {
      child.kill('SIGTERM');
      // Nest's shutdown hooks close the app, then re-raise the signal.
      expect(await exited).toBe('SIGTERM');
    }
    process.stdout.write(`packed tarball: ${packedSize} bytes\n`);
  }, 180_000);
});
