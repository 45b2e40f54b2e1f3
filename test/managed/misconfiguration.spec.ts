/**
 * A misconfiguration is not an outage. Against real servers (a password-protected one with ACL
 * users, and a TLS-only one with certificates made by openssl at run time), each way of
 * misconfiguring the module fails the boot with LoadStatusConfigError (its cause the LoadStatusRejectedError)
 * naming the cause and the fix, under either policy, within commandTimeoutMs plus slack — while
 * an unreachable Redis lets the app boot and applies onStoreError. Prints the table
 * cause → error → time to fail.
 */
import { Redis } from 'ioredis';
import {
  LoadStatusConfigError,
  LoadStatusRejectedError,
  LoadStatusUnavailableError,
  type LoadStatusModuleOptions,
  type OnStoreError,
} from '../../src';
import { startApp } from '../support/apps';
import { setImmediate } from 'node:timers/promises';
import { bootWithLogs, type LoggedApp } from '../support/logged-app';
import { recordUnhandledRejections } from '../support/unhandled';
import { uniquePrefix } from '../support/env';
import { freePort, RedisServer } from '../support/redis-server';
import { makeCertificates, type TestCertificates } from '../support/tls';
import { NODE_REDIS_FLAVOURS } from '../support/redis-clients';
import { aclRule } from './acl';

const PASSWORD = 'right-pass-7f3a';
const COMMAND_TIMEOUT_MS = 1_000;
/** Boot, connect and a few round trips on a busy 2-core machine. */
const SLACK_MS = 1_500;

interface Case {
  cause: string;
  options: (
    ctx: Context,
  ) => Promise<LoadStatusModuleOptions['redis']> | LoadStatusModuleOptions['redis'];
  /** The error's message must match. */
  message: RegExp;
}

interface Context {
  secured: RedisServer;
  tls: RedisServer;
  certs: TestCertificates;
  downPort: number;
  prefix: string;
}

const CASES: Case[] = [
  {
    cause: 'wrong password',
    options: ({ secured }) => `redis://:wrong-pass@127.0.0.1:${secured.port}`,
    message: /Redis rejected the connection \(WRONGPASS: WRONGPASS invalid username-password pair/,
  },
  {
    cause: 'unknown user',
    options: ({ secured }) => `redis://nobody:${PASSWORD}@127.0.0.1:${secured.port}`,
    message: /\(WRONGPASS: /,
  },
  {
    cause: 'no password for a protected server',
    options: ({ secured }) => `redis://127.0.0.1:${secured.port}`,
    message: /\(NOAUTH: NOAUTH /,
  },
  {
    cause: 'NOPERM on scripts',
    options: async (ctx) =>
      `redis://${await aclUser(ctx, 'noscripts', ['-evalsha', '-eval', '-script|load'])}@127.0.0.1:${ctx.secured.port}`,
    message: /\(NOPERM: NOPERM this user has no permissions to run the 'script\|load' command/,
  },
  {
    cause: 'NOPERM on publish',
    options: async (ctx) =>
      `redis://${await aclUser(ctx, 'nopublish', ['-publish'])}@127.0.0.1:${ctx.secured.port}`,
    message: /\(NOPERM \(in a script\): ERR The user executing the script can't run this command/,
  },
  {
    cause: 'NOPERM on the channel',
    options: async (ctx) =>
      `redis://${await aclUser(ctx, 'nochannel', [], 'resetchannels')}@127.0.0.1:${ctx.secured.port}`,
    message: /\(NOPERM: NOPERM this user has no permissions to access one of the channels/,
  },
  {
    cause: 'plaintext to a TLS port',
    options: ({ tls }) => `redis://127.0.0.1:${tls.port}`,
    message:
      /the server closed the connection right after it was opened.*use a rediss:\/\/ URL or tls options/,
  },
  {
    cause: 'wrong CA',
    options: ({ tls, certs }) => ({
      host: '127.0.0.1',
      port: tls.port,
      tls: { ca: certs.wrongCa, servername: 'localhost' },
    }),
    message: /\(TLS: SELF_SIGNED_CERT_IN_CHAIN/,
  },
];

/** An ACL user with the least-privilege rule for the prefix, minus `minus`; returns `user:pass`. */
async function aclUser(
  ctx: Context,
  name: string,
  minus: string[],
  extra?: string,
): Promise<string> {
  const admin = new Redis({ port: ctx.secured.port, password: PASSWORD, lazyConnect: false });
  try {
    const user = `${name}-${ctx.prefix}`;
    const rule = aclRule(ctx.prefix);
    await admin.call(
      'ACL',
      'SETUSER',
      user,
      'reset',
      'on',
      `>${PASSWORD}`,
      ...rule,
      ...minus,
      ...(extra ? [extra] : []),
    );
    return `${user}:${PASSWORD}`;
  } finally {
    await admin.quit();
  }
}

describe('misconfiguration fails the boot, under either policy', () => {
  const ctx = {} as Context;
  const table: string[] = [];
  beforeAll(async () => {
    ctx.certs = makeCertificates();
    [ctx.secured, ctx.tls] = await Promise.all([
      RedisServer.start({ args: () => ['--requirepass', PASSWORD] }),
      RedisServer.start({ tls: ctx.certs }),
    ]);
    ctx.downPort = await freePort();
  });
  afterAll(async () => {
    await Promise.all([ctx.secured.stop(), ctx.tls.stop()]);
    ctx.certs.remove();
    process.stdout.write(
      `\n| cause | policy | error | time to fail |\n|---|---|---|---|\n${table.join('\n')}\n`,
    );
  });

  describe.each<OnStoreError>(['fail-open', 'fail-closed'])('%s', (onStoreError) => {
    it.each(CASES.map((c) => [c.cause, c] as const))(
      '%s: LoadStatusRejectedError naming it, within commandTimeoutMs + slack',
      async (cause, c) => {
        ctx.prefix = uniquePrefix('misconf');
        const redis = await c.options(ctx);
        const started = performance.now();
        const error: unknown = await startApp({
          redis,
          keyPrefix: ctx.prefix,
          onStoreError,
          commandTimeoutMs: COMMAND_TIMEOUT_MS,
        }).then(
          async (app) => {
            await app.close();
            return undefined;
          },
          (e: unknown) => e,
        );
        const ms = performance.now() - started;
        expect(error).toBeInstanceOf(LoadStatusConfigError);
        expect(error).toMatchObject({ option: 'redis' });
        const refusal = (error as Error).cause;
        expect(refusal).toBeInstanceOf(LoadStatusRejectedError);
        expect((error as Error).message).toMatch(c.message);
        expect(ms).toBeLessThan(COMMAND_TIMEOUT_MS + SLACK_MS);
        table.push(
          `| ${cause} | ${onStoreError} | \`${(refusal as LoadStatusRejectedError).reason}\` | ${Math.round(ms)} ms |`,
        );
      },
    );

    it('Redis down: boots within commandTimeoutMs + slack (an outage, not a misconfiguration)', async () => {
      // Node's default for an unhandled rejection is to end the process: the boot leaves none.
      const unhandled = recordUnhandledRejections();
      const started = performance.now();
      let bootMs: number;
      let app: LoggedApp;
      try {
        app = await bootWithLogs({
          redis: `redis://127.0.0.1:${ctx.downPort}`,
          keyPrefix: uniquePrefix('down'),
          onStoreError,
          commandTimeoutMs: COMMAND_TIMEOUT_MS,
        });
        bootMs = performance.now() - started;
        await app.close();
        await setImmediate(); // rejections are reported once the microtasks ran
      } finally {
        unhandled.stop();
      }
      expect(unhandled.reasons).toEqual([]);
      expect(bootMs).toBeLessThan(COMMAND_TIMEOUT_MS + SLACK_MS);
      // The warning names why: the refused connection, not a timeout of what came after it.
      expect(app.lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
        `store not reachable at start-up (connect ECONNREFUSED 127.0.0.1:${ctx.downPort}); onStoreError is '${onStoreError}'`,
      ]);
      table.push(
        `| Redis down | ${onStoreError} | boots (an outage) | boot ${Math.round(bootMs)} ms |`,
      );
    });
  });

  describe.each(NODE_REDIS_FLAVOURS)('a borrowed %s client still connecting', (flavour) => {
    // node-redis retries a refused connection forever and never settles connect(): the module
    // is handed the client while it connects, and reports why it never became ready.
    const cases: Array<[string, (c: Context) => Promise<object> | object, RegExp]> = [
      [
        'wrong password',
        (c) => ({ url: `redis://:wrong-pass@127.0.0.1:${c.secured.port}` }),
        /\(WRONGPASS: /,
      ],
      [
        'NOPERM on scripts',
        async (c) => ({
          url: `redis://${await aclUser(c, 'nr-noscripts', ['-evalsha', '-eval', '-script|load'])}@127.0.0.1:${c.secured.port}`,
        }),
        /\(NOPERM: /,
      ],
      [
        'wrong CA',
        (c) => ({
          url: `rediss://localhost:${c.tls.port}`,
          socket: { ca: c.certs.wrongCa },
        }),
        /\(TLS: SELF_SIGNED_CERT_IN_CHAIN/,
      ],
    ];
    it.each(cases)(
      '%s: LoadStatusRejectedError, within commandTimeoutMs + slack',
      async (cause, options, message) => {
        ctx.prefix = uniquePrefix('misconf-nr');
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { createClient } = require(flavour === 'node-redis-5' ? 'redis5' : 'redis');
        const base = (await options(ctx)) as { socket?: object };
        const client = createClient({ ...base, socket: { reconnectStrategy: 50, ...base.socket } });
        client.on('error', () => undefined);
        client.connect().catch(() => undefined);
        const started = performance.now();
        try {
          const error: unknown = await startApp({
            redis: client,
            keyPrefix: ctx.prefix,
            commandTimeoutMs: COMMAND_TIMEOUT_MS,
          }).then(
            async (app) => void (await app.close()),
            (e: unknown) => e,
          );
          const ms = performance.now() - started;
          expect(error).toBeInstanceOf(LoadStatusConfigError);
          const refusal = (error as Error).cause;
          expect(refusal).toBeInstanceOf(LoadStatusRejectedError);
          expect((error as Error).message).toMatch(message);
          expect(ms).toBeLessThan(COMMAND_TIMEOUT_MS + SLACK_MS);
          table.push(
            `| ${cause} (${flavour} client) | fail-open | \`${(refusal as LoadStatusRejectedError).reason}\` | ${Math.round(ms)} ms |`,
          );
        } finally {
          if (client.isOpen) await client.destroy();
        }
      },
    );
  });

  it('Redis down, fail-open: a call loads in-process', async () => {
    const app = await startApp({
      redis: `redis://127.0.0.1:${ctx.downPort}`,
      keyPrefix: uniquePrefix('down'),
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    });
    try {
      await expect(
        app.lock.ensureLoaded('u', () => Promise.resolve('here')),
      ).resolves.toMatchObject({
        status: 'loaded',
        value: 'here',
      });
    } finally {
      await app.close();
    }
  });

  it('Redis down, fail-closed: a call gets LoadStatusUnavailableError', async () => {
    const app = await startApp({
      redis: `redis://127.0.0.1:${ctx.downPort}`,
      keyPrefix: uniquePrefix('down'),
      onStoreError: 'fail-closed',
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
    });
    try {
      await expect(app.lock.ensureLoaded('u', () => Promise.resolve('here'))).rejects.toThrow(
        LoadStatusUnavailableError,
      );
    } finally {
      await app.close();
    }
  });
});
