/**
 * Every key a Lua script touches is one it declares in KEYS. Servers that check this (Dragonfly,
 * ElastiCache Serverless, and a Redis Cluster, which routes a script by its KEYS alone) refuse a
 * script that touches any other key, or run it on the wrong shard. Each case of the scripts'
 * table (`redis-scripts.cases.ts`, every branch of every script) runs on a real server under
 * MONITOR; every command a script issues (MONITOR's `lua` source) is asked for its keys with
 * `COMMAND GETKEYS`, and each must be one the case passed in KEYS.
 */
import { Redis } from 'ioredis';
import { REDIS_SCRIPTS, type ScriptName } from '../../src/stores/redis/redis-scripts';
import { SCRIPT_CASES } from './redis-scripts.cases';
import { FIXTURE, LAYOUT, ScriptBench } from './redis-scripts.harness';
import { RedisServer } from '../support/redis-server';

let server: RedisServer;
let bench: ScriptBench;
let inspect: Redis;
let monitor: Redis;
/** The connection `monitor` was made from (ioredis opens MONITOR on a duplicate of it). */
let monitorBase: Redis;
/** The commands scripts ran since the last case began, as MONITOR reported them. */
const fromScripts: string[][] = [];
let marker: { text: string; seen: () => void } | undefined;

beforeAll(async () => {
  server = await RedisServer.start();
  bench = await ScriptBench.open(server.port);
  inspect = new Redis({ port: server.port, host: '127.0.0.1' });
  monitorBase = new Redis({ port: server.port, host: '127.0.0.1' });
  monitor = await monitorBase.monitor();
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua') fromScripts.push(args);
    else if (args[0]?.toLowerCase() === 'echo' && args[1] === marker?.text) marker.seen();
  });
});
afterAll(async () => {
  monitor.disconnect();
  await Promise.all([inspect.quit(), monitorBase.quit(), bench.close()]);
  await server.stop();
});

/** Waits until MONITOR has reported everything sent before now (an ECHO it sees after it). */
async function monitorCaughtUp(): Promise<void> {
  const text = `keys-spec-${Date.now()}-${Math.random()}`;
  const seen = new Promise<void>((resolve) => (marker = { text, seen: resolve }));
  await inspect.echo(text);
  await seen;
}

/** The keys of one command, as the server finds them (none for PUBLISH, TIME and the like). */
async function keysOf(command: string[]): Promise<string[]> {
  try {
    return (await inspect.call('COMMAND', 'GETKEYS', ...command)) as string[];
  } catch (error) {
    // The server's own answer that the command names no key (PUBLISH, SPUBLISH's channel).
    if (/no key arguments/.test(String(error))) return [];
    // GETKEYS wants arguments: a command without any (TIME) names no key if it has no positions.
    if (command.length === 1) {
      const [[, , , firstKey]] = (await inspect.call('COMMAND', 'INFO', command[0])) as [
        [string, number, string[], number],
      ];
      if (firstKey === 0) return [];
    }
    throw error;
  }
}

const names = Object.keys(REDIS_SCRIPTS) as ScriptName[];

describe.each(names)('%s', (name) => {
  const declared = new Set<string>(LAYOUT[name].map((role) => FIXTURE[role]));
  const cases = SCRIPT_CASES.filter((c) => c.script === name && c.denied === undefined);

  it('touches only the keys it declares, in every case of the table', async () => {
    const undeclared = new Set<string>();
    let commands = 0;
    for (const testCase of cases) {
      await monitorCaughtUp();
      fromScripts.length = 0;
      expect(await bench.check(testCase)).toEqual([]);
      await monitorCaughtUp();
      for (const command of fromScripts.splice(0)) {
        commands++;
        for (const key of await keysOf(command))
          if (!declared.has(key)) undeclared.add(`${command.join(' ')} (case "${testCase.name}")`);
      }
    }
    expect([...undeclared]).toEqual([]);
    // The check saw the script's commands: a MONITOR that heard nothing would pass it blind.
    expect(commands).toBeGreaterThan(0);
  });
});

it('finds an undeclared key: a script that touches one is reported', async () => {
  await monitorCaughtUp();
  fromScripts.length = 0;
  await inspect.eval(
    "redis.call('GET', KEYS[1]); return redis.call('GET', 'not-declared')",
    1,
    FIXTURE.loaded,
  );
  await monitorCaughtUp();
  const touched = (await Promise.all(fromScripts.splice(0).map(keysOf))).flat();
  expect(touched).toEqual([FIXTURE.loaded, 'not-declared']);
});
