/**
 * Which server the tests start: Redis (the default) or Valkey, chosen by one setting,
 * `LOAD_STATUS_TEST_SERVER=redis|valkey`. Every server, Cluster, Sentinel group and TLS server
 * the support code starts, and every `*-cli` call it makes, goes through these names, so the same
 * specs run on either (`npm run test:valkey`).
 */
export type ServerKind = 'redis' | 'valkey';

export interface ServerBinaries {
  readonly kind: ServerKind;
  /** The server, also run as a sentinel with `--sentinel`. */
  readonly server: string;
  readonly cli: string;
  /** How to get the server, for the error a run without it fails with. */
  readonly install: string;
}

const BINARIES: Record<ServerKind, ServerBinaries> = {
  redis: {
    kind: 'redis',
    server: 'redis-server',
    cli: 'redis-cli',
    install:
      'Install redis-server (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`) ' +
      'so the tests can start their own, or point REDIS_URL at one (e.g. REDIS_URL=redis://127.0.0.1:6379).',
  },
  valkey: {
    kind: 'valkey',
    server: 'valkey-server',
    cli: 'valkey-cli',
    install:
      'Install valkey-server (Debian 12: add the bookworm-backports suite to apt, then ' +
      '`apt-get install -t bookworm-backports valkey-server valkey-sentinel`; Debian 13 and ' +
      'Ubuntu 24.04+: `apt-get install valkey-server`; macOS: `brew install valkey`) so the tests ' +
      'can start their own, or point REDIS_URL at one.',
  },
};

/** The server kind `LOAD_STATUS_TEST_SERVER` names (unset: Redis). */
export function serverKind(value = process.env.LOAD_STATUS_TEST_SERVER): ServerBinaries {
  if (value === undefined || value === '') return BINARIES.redis;
  if (value === 'redis' || value === 'valkey') return BINARIES[value];
  throw new Error(
    `LOAD_STATUS_TEST_SERVER must be "redis" or "valkey" (got ${JSON.stringify(value)})`,
  );
}

/** The servers this run starts. */
export const SERVER = serverKind();
