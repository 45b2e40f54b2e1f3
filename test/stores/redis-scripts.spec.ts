/**
 * The Lua scripts of the Redis store, run one by one on a real server: the table of
 * `redis-scripts.cases.ts` (every branch of every script: reply, every key's value and expiry to
 * the millisecond, every message). The same table runs against mutants of the scripts in
 * `npm run test:lua-mutation` (test/support/lua-mutation.ts), which Stryker cannot make; the
 * last test here runs that mutator too, so a case the table lacks fails the suite.
 */
import { REDIS_SCRIPTS, type ScriptName } from '../../src/stores/redis/redis-scripts';
import { SCRIPT_CASES } from './redis-scripts.cases';
import { LAYOUT, ScriptBench } from './redis-scripts.harness';
import { EQUIVALENT, runLuaMutation, staleEquivalents } from '../support/lua-mutation';
import { RedisServer } from '../support/redis-server';

let server: RedisServer;
let bench: ScriptBench;
beforeAll(async () => {
  server = await RedisServer.start();
  bench = await ScriptBench.open(server.port);
});
afterAll(async () => {
  await bench.close();
  await server.stop();
});

const names = Object.keys(REDIS_SCRIPTS) as ScriptName[];

it('has cases for every script, with the key layout each script declares', () => {
  expect(names.filter((name) => !SCRIPT_CASES.some((c) => c.script === name))).toEqual([]);
  expect(names.map((name) => [name, REDIS_SCRIPTS[name].numberOfKeys])).toEqual(
    names.map((name) => [name, LAYOUT[name].length]),
  );
});

describe.each(names)('%s', (name) => {
  const cases = SCRIPT_CASES.filter((c) => c.script === name);
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_title, testCase) => {
    expect(await bench.check(testCase)).toEqual([]);
  });
});

// The mutator itself (`npm run test:lua-mutation` prints the details): a few seconds.
it('kills every mutant of the scripts but the ones listed as equivalent, and the list is current', async () => {
  const reports = await runLuaMutation(bench);
  const survivors = reports.flatMap((r) => r.survived.map((m) => `${m.id}: ${m.line}`));
  const killedYetListed = reports.flatMap((r) => r.killedEquivalent.map((m) => m.id));
  expect({ survivors, killedYetListed, stale: staleEquivalents(reports) }).toEqual({
    survivors: [],
    killedYetListed: [],
    stale: [],
  });
  expect(reports.reduce((n, r) => n + r.equivalent.length, 0)).toBe(Object.keys(EQUIVALENT).length);
}, 120_000);
