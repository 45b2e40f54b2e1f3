import { redisUrl } from '../support/env';
import { MATRIX, packTarball, REPRESENTATIVE_ROW, runRow, workDirectory } from '../compat/matrix';

/**
 * The published package, as a user gets it: `npm pack`, then one representative row of the
 * compatibility matrix (the newest Nest and ioredis, as an ES module app) — installed with strict
 * peer resolution into a fresh app, type-checked with `skipLibCheck: false`, booted in two
 * processes that stampede one user through `@WithUserLoadLock()`. `npm run test:compat` (run by
 * CI after `npm test`) runs every row.
 */
describe('the packed tarball', () => {
  const work = workDirectory();
  let packed: { tarball: string; files: string[]; size: number };
  beforeAll(async () => {
    packed = await packTarball(work.dir);
  }, 120_000);
  afterAll(() => work.remove());

  it('ships the compiled code, its declarations and the docs, nothing else', () => {
    expect(packed.files).toEqual(
      expect.arrayContaining([
        'dist/index.js',
        'dist/index.d.ts',
        'README.md',
        'LICENSE',
        'CHANGELOG.md',
        'package.json',
      ]),
    );
    const docs = ['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json'];
    expect(packed.files.filter((f) => !f.startsWith('dist/') && !docs.includes(f))).toEqual([]);
  });

  it(`installs, type-checks strictly, boots and loads once across two processes (${REPRESENTATIVE_ROW})`, async () => {
    const row = MATRIX.find((r) => r.name === REPRESENTATIVE_ROW)!;
    const result = await runRow(row, packed.tarball, redisUrl(), work.dir);
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ ok: true, loaderRuns: 1, callers: 40 });
    process.stdout.write(
      `packed tarball: ${packed.size} bytes; ${row.name}: ${JSON.stringify(result.installed)}\n`,
    );
  }, 180_000);
});
