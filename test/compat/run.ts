/**
 * `npm run test:compat`: the packed tarball's file list checked, then every row of the
 * compatibility matrix (test/compat/matrix.ts), two at a time, against one redis-server it starts
 * (or REDIS_URL). Prints the matrix, writes it to
 * test/compat/RESULTS.md when every row ran, and exits non-zero if any row failed.
 *
 *   npm run test:compat                      # every row
 *   npm run test:compat -- nest10 nest11-    # rows whose name contains one of the words
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NO_REDIS_MESSAGE, RedisServer, hasRedisServerBinary } from '../support/redis-server';
import {
  MATRIX,
  matrixTable,
  packTarball,
  runRow,
  tarballProblems,
  workDirectory,
  type MatrixRow,
  type RowResult,
} from './matrix';

const CONCURRENCY = 2;

async function main(): Promise<void> {
  const filters = process.argv.slice(2);
  const rows = filters.length
    ? MATRIX.filter((r) => filters.some((f) => r.name.includes(f)))
    : [...MATRIX];
  if (rows.length === 0) throw new Error(`no row matches ${filters.join(' ')}`);
  let server: RedisServer | undefined;
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    if (!hasRedisServerBinary()) throw new Error(NO_REDIS_MESSAGE);
    server = await RedisServer.start();
    redisUrl = server.url;
  }
  const work = workDirectory();
  const started = performance.now();
  try {
    const { tarball, size, files } = await packTarball(work.dir);
    const problems = tarballProblems(files);
    if (problems.length > 0)
      throw new Error(`the packed tarball is wrong:\n  ${problems.join('\n  ')}`);
    process.stdout.write(
      `packed ${tarball} (${size} bytes, ${files.length} files, as meant); ${rows.length} rows\n`,
    );
    const results: RowResult[] = [];
    const queue = [...rows];
    const worker = async (): Promise<void> => {
      for (let row: MatrixRow | undefined; (row = queue.shift());) {
        const result = await runRow(row, tarball, redisUrl, work.dir);
        results.push(result);
        process.stdout.write(
          `${result.ok ? 'pass' : 'FAIL'} ${row.name} (${result.seconds.total} s)` +
            (result.error ? `\n${result.error}\n` : '\n'),
        );
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    results.sort((a, b) => MATRIX.indexOf(a.row) - MATRIX.indexOf(b.row));
    const minutes = ((performance.now() - started) / 60_000).toFixed(1);
    const table = matrixTable(results);
    const passed = results.filter((r) => r.ok).length;
    process.stdout.write(
      `\n${table}\n\ncompat: ${passed} passed, ${results.length - passed} failed (${minutes} min)\n`,
    );
    if (filters.length === 0) {
      writeFileSync(
        join(__dirname, 'RESULTS.md'),
        `# Compatibility matrix\n\nFrom the last full \`npm run test:compat\` (${new Date().toISOString().slice(0, 10)}, Node ${process.version}, ${minutes} min on this 2-core machine). Each row: the packed tarball installed with npm's strict peer resolution into a fresh app that has only the row's libraries, a strict type check (\`skipLibCheck: false\`), a boot, and a two-process stampede of 2 × 20 decorated calls in which the loader must run once.\n\n${table}\n`,
      );
    }
    if (passed !== results.length) process.exitCode = 1;
  } finally {
    work.remove();
    await server?.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
