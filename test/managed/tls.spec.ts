/**
 * TLS, with a private CA and server certificates made by openssl at run time: the flow runs over
 * `rediss://` / `tls: { ca }` with ioredis options, a borrowed ioredis client and borrowed
 * node-redis 5 and 6 clients, across two apps (one load, notifications included); and over a
 * TLS-only Redis Cluster (`--tls-cluster yes`), where the clients' TLS options reach the
 * module's own subscriber connections. (Plaintext against the TLS port and a wrong CA:
 * misconfiguration.spec.ts.)
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import type { LoadStatusModuleOptions } from '../../src';
import { startApp, type TestApp } from '../support/apps';
import { uniquePrefix } from '../support/env';
import { freePort, RedisServer } from '../support/redis-server';
import { NODE_REDIS_FLAVOURS, type ClientFlavour } from '../support/redis-clients';
import { makeCertificates, type TestCertificates } from '../support/tls';
import { until } from '../support/redis-topologies';
import { SERVER } from '../support/server-kind';

const run = promisify(execFile);

interface NodeRedisLike {
  isOpen: boolean;
  on(event: string, listener: () => void): unknown;
  connect(): Promise<unknown>;
  close(): Promise<unknown>;
}

function nodeRedis(flavour: ClientFlavour): {
  createClient(options: object): NodeRedisLike;
  createCluster(options: object): NodeRedisLike;
} {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(flavour === 'node-redis-5' ? 'redis5' : 'redis');
}

/** Two apps on one source: 20 concurrent callers in each, one load in total. */
async function expectLoadsOnceAcross(
  sources: [LoadStatusModuleOptions['redis'], LoadStatusModuleOptions['redis']],
): Promise<void> {
  const keyPrefix = uniquePrefix('tls');
  const apps: TestApp[] = await Promise.all(sources.map((redis) => startApp({ redis, keyPrefix })));
  try {
    let runs = 0;
    const loader = async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 100));
      return 'over TLS';
    };
    const outcomes = await Promise.all(
      apps.flatMap((app) => Array.from({ length: 20 }, () => app.lock.ensureLoaded('u', loader))),
    );
    expect(runs).toBe(1);
    expect(outcomes.filter((o) => o.status === 'loaded-elsewhere').length).toBe(20);
    expect(await apps[1].status.isLoaded('u')).toBe(true);
  } finally {
    await Promise.all(apps.map((a) => a.close()));
  }
}

describe('TLS', () => {
  let certs: TestCertificates;
  let server: RedisServer;
  beforeAll(async () => {
    certs = makeCertificates();
    server = await RedisServer.start({ tls: certs });
  });
  afterAll(async () => {
    await server.stop();
    certs.remove();
  });

  it('runs the flow with ioredis options (tls: { ca }), created and closed by the module', async () => {
    const options = { host: 'localhost', port: server.port, tls: { ca: certs.ca } };
    await expectLoadsOnceAcross([options, options]);
  });

  it('runs the flow on borrowed ioredis clients made from a rediss:// URL', async () => {
    const clients = [0, 1].map(
      () => new Redis(`rediss://localhost:${server.port}`, { tls: { ca: certs.ca } }),
    );
    try {
      await expectLoadsOnceAcross([clients[0], clients[1]]);
    } finally {
      await Promise.all(clients.map((c) => c.quit()));
    }
  });

  it.each(NODE_REDIS_FLAVOURS)(
    'runs the flow on borrowed %s clients (rediss:// + socket.ca)',
    async (flavour) => {
      const { createClient } = nodeRedis(flavour);
      const clients = [0, 1].map(() =>
        createClient({ url: `rediss://localhost:${server.port}`, socket: { ca: certs.ca } }),
      );
      for (const c of clients) c.on('error', () => undefined);
      await Promise.all(clients.map((c) => c.connect()));
      try {
        await expectLoadsOnceAcross([clients[0], clients[1]]);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    },
  );
});

describe('TLS on a Redis Cluster', () => {
  let certs: TestCertificates;
  const nodes: RedisServer[] = [];
  beforeAll(async () => {
    certs = makeCertificates();
    for (let i = 0; i < 3; i++) {
      const busPort = await freePort();
      nodes.push(
        await RedisServer.start({
          tls: certs,
          args: () => [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '1000',
            '--cluster-port',
            String(busPort),
            '--tls-cluster',
            'yes',
          ],
        }),
      );
    }
    await run(
      SERVER.cli,
      [
        '--tls',
        '--cacert',
        certs.caFile,
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 60_000 },
    );
    await until('the TLS cluster to be ok', async () => {
      const { stdout } = await run(SERVER.cli, [
        '--tls',
        '--cacert',
        certs.caFile,
        '-p',
        String(nodes[0].port),
        'CLUSTER',
        'INFO',
      ]);
      return /cluster_state:ok/.test(stdout);
    });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    certs.remove();
  });

  it('runs the flow on borrowed ioredis Clusters whose redisOptions carry tls', async () => {
    const clusters = [0, 1].map(
      () =>
        new Cluster(
          nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
          {
            redisOptions: { tls: { ca: certs.ca, servername: 'localhost' } },
          },
        ),
    );
    try {
      await expectLoadsOnceAcross([clusters[0], clusters[1]]);
    } finally {
      await Promise.all(clusters.map((c) => c.quit()));
    }
  });

  it.each(NODE_REDIS_FLAVOURS)(
    'runs the flow on borrowed %s createCluster() clients with TLS defaults',
    async (flavour) => {
      const { createCluster } = nodeRedis(flavour);
      const clusters = [0, 1].map(() =>
        createCluster({
          rootNodes: nodes.map((n) => ({ url: `rediss://127.0.0.1:${n.port}` })),
          defaults: { socket: { tls: true, ca: certs.ca, servername: 'localhost' } },
        }),
      );
      for (const c of clusters) c.on('error', () => undefined);
      await Promise.all(clusters.map((c) => c.connect()));
      try {
        await expectLoadsOnceAcross([clusters[0], clusters[1]]);
      } finally {
        await Promise.all(clusters.map((c) => c.close()));
      }
    },
  );
});
