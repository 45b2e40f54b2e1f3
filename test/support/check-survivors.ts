/**
 * Checks by hand what a Stryker run left: makes each surviving (or uncovered) mutant of one file
 * in `src/`, runs the given specs against it, and restores the file. A mutant the specs fail on is
 * killed by them. Used after a spec was written for a run's survivors, instead of a second
 * Stryker run of the whole file (which runs every covering test, not just the new spec).
 *
 *   node -r @swc-node/register test/support/check-survivors.ts \
 *     <mutation.json> <src file> <spec>... [jest arguments, e.g. -t <name>] [--skip-lines 12,40]
 *
 * The report must be of the file as it is now (line and column of each mutant); lines changed
 * since are given with `--skip-lines`. Prints one line per mutant and a count; exits 1 if any
 * mutant lives. The file is restored on every way out, Ctrl-C included.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

interface Position {
  readonly line: number;
  readonly column: number;
}
interface Mutant {
  readonly mutatorName: string;
  readonly replacement: string;
  readonly status: string;
  readonly location: { readonly start: Position; readonly end: Position };
}

const args = process.argv.slice(2);
const skipAt = args.indexOf('--skip-lines');
const skip = new Set(skipAt === -1 ? [] : (args[skipAt + 1] ?? '').split(',').map(Number));
const [reportPath, file, ...specs] = skipAt === -1 ? args : args.slice(0, skipAt);
if (reportPath === undefined || file === undefined || specs.length === 0) {
  console.error('usage: check-survivors <mutation.json> <src file> <spec>... [--skip-lines a,b]');
  process.exit(2);
}

const report = JSON.parse(readFileSync(reportPath, 'utf8')) as {
  files: Record<string, { mutants: Mutant[] } | undefined>;
};
const mutants = (report.files[file]?.mutants ?? []).filter(
  (m) => (m.status === 'Survived' || m.status === 'NoCoverage') && !skip.has(m.location.start.line),
);
const original = readFileSync(file, 'utf8');
const lineStarts = [0];
for (const line of original.split('\n')) lineStarts.push(lineStarts.at(-1)! + line.length + 1);
/** Stryker's lines and columns count from 1. */
const offset = (p: Position) => lineStarts[p.line - 1] + p.column - 1;

const restore = () => writeFileSync(file, original);
process.on('SIGINT', () => {
  restore();
  process.exit(130);
});

let lives = 0;
try {
  for (const m of mutants) {
    const { start, end } = m.location;
    writeFileSync(
      file,
      original.slice(0, offset(start)) + m.replacement + original.slice(offset(end)),
    );
    const run = spawnSync('npx', ['jest', '--silent', ...specs], { encoding: 'utf8' });
    const killed = run.status !== 0;
    if (!killed) lives++;
    const change = JSON.stringify(m.replacement.slice(0, 60));
    console.log(
      `${killed ? 'killed' : 'LIVES '} ${start.line}:${start.column} ${m.mutatorName} ${change}`,
    );
  }
} finally {
  restore();
}
console.log(`${mutants.length - lives} of ${mutants.length} killed by ${specs.join(' ')}`);
process.exitCode = lives === 0 ? 0 : 1;
