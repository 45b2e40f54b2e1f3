/**
 * Runs one case of the Lua scripts' table (`redis-scripts.cases.ts`) against a real Redis server
 * and reports every way the outcome differs from the case: the reply, the value and expiry of
 * every fixture key afterwards, and the messages published. Shared by the Jest spec
 * (`redis-scripts.spec.ts`, the scripts of `src/`) and the Lua mutator
 * (`test/support/lua-mutation.ts`, mutants of them), so both run the very same table.
 *
 * Exact to the millisecond: one attempt is one MULTI (clear the fixture keys, TIME, set up the
 * given keys with `PX`, TIME, the script, TIME, read every key's value and absolute expiry,
 * TIME), repeated until the four TIMEs fall in one millisecond. Then a key given `PX n` expires
 * at `base + n` exactly, a PTTL the script reads is exactly what the case gave, and a key the
 * script sets with `PX n` expires at `base + n` too: a script one millisecond off is caught.
 * Messages: a second connection PSUBSCRIBEs to every channel (and SSUBSCRIBEs to the sharded
 * one); a PUBLISH on a sentinel channel after the MULTI marks the end of the case's messages.
 */
import { Redis } from 'ioredis';
import { REDIS_SCRIPTS, type ScriptName } from '../../src/stores/redis/redis-scripts';

/** The keys a case can give and check; one hash tag, as a user's keys share a slot. */
export const FIXTURE = {
  loaded: 't:{7}:u:loaded',
  lock: 't:{7}:u:lock',
  fence: 't:{7}:u:fence',
  waiting: 't:{7}:u:waiting',
  finished: 't:{7}:u:finished',
  generation: 't:{7}:%gen:generation',
  probe: 't:{0}:%probe:probe',
  registry: 't:{%loads}:names',
} as const;
export type Role = keyof typeof FIXTURE;
const ROLES = Object.keys(FIXTURE) as Role[];

/** Each script's KEYS, in order (the "KEYS:" of its guarantee comment). */
export const LAYOUT: Record<ScriptName, readonly Role[]> = {
  acquire: ['loaded', 'lock', 'fence', 'waiting', 'generation'],
  extend: ['lock'],
  release: ['lock', 'waiting'],
  finish: ['loaded', 'lock', 'waiting', 'generation', 'finished'],
  finishLock: ['lock', 'waiting'],
  watch: ['loaded', 'waiting', 'generation'],
  setLoaded: ['loaded', 'waiting', 'generation'],
  probe: ['probe'],
  clear: ['loaded'],
  owns: ['lock'],
  flag: ['loaded', 'generation'],
  clearGroup: ['generation'],
  registerLoad: ['registry'],
  loadNames: ['registry'],
};

/** Channels the cases publish on: `ch` with PUBLISH, `sch` with SPUBLISH. */
export const CHANNEL = 'ch';
export const SHARD_CHANNEL = 'sch';
const SENTINEL = '__case-end__';

/** What one attempt saw, for the matchers. */
export interface RunContext {
  /** Server time in µs just before and just after the script. */
  readonly beforeUs: number;
  readonly afterUs: number;
  readonly reply: unknown;
}

/** A value a case cannot name in advance (it holds the server clock). */
export interface Matcher {
  readonly describe: string;
  test(actual: unknown, ctx: RunContext): boolean;
}
const isMatcher = (want: unknown): want is Matcher =>
  typeof want === 'object' && want !== null && 'test' in want && 'describe' in want;

/** An expected reply: Redis's conversion of the Lua value (nil/false: null). */
export type Want = string | number | null | Matcher | readonly Want[];

/** A key's value, persistent, or `[value, ms]`: it expires exactly `ms` after the case's base. */
export type KeyState = string | Matcher | readonly [string | Matcher, number];

export interface ScriptCase {
  readonly script: ScriptName;
  readonly name: string;
  /** The keys before the script ran; every other fixture key is absent. */
  readonly given?: Partial<Record<Role, string | readonly [string, number]>>;
  readonly args: readonly string[];
  /** The reply, unless the case expects an error. */
  readonly reply?: Want;
  /** Run as an ACL user denied this one command: the script must fail naming it. */
  readonly denied?: string;
  /** The keys afterwards, over `given`: null = deleted. Unlisted keys are as given. */
  readonly then?: Partial<Record<Role, KeyState | null>>;
  /** Every message, in order, as `PUBLISH <channel> <message>` or `SPUBLISH …`. */
  readonly published?: readonly string[];
}

/** An integer reply holding the server clock in µs at the script. */
export const NOW: Matcher = {
  describe: 'the server time in µs',
  test: (actual, ctx) =>
    typeof actual === 'number' && actual >= ctx.beforeUs && actual <= ctx.afterUs,
};
/** The same, as a string (a lineage). */
export const NOW_TEXT: Matcher = {
  describe: 'the server time in µs, as text',
  test: (actual, ctx) =>
    typeof actual === 'string' && /^\d+$/.test(actual) && NOW.test(Number(actual), ctx),
};
/** The fencing counter `<fence>:<lineage>` as the reply (`{1, fence, lineage, …}`) gave them. */
export const FENCE_OF_REPLY: Matcher = {
  describe: '"<fence>:<lineage>" of the reply',
  test: (actual, ctx) => {
    const reply = ctx.reply as unknown[];
    return Array.isArray(reply) && actual === `${String(reply[1])}:${String(reply[2])}`;
  },
};

/** A server for the table: the connections a run needs, made once. */
export class ScriptBench {
  private readonly messages: string[] = [];
  private readonly waiters = new Map<string, () => void>();
  private readonly denied = new Map<string, Redis>();
  private sequence = 0;

  private constructor(
    private readonly port: number,
    private readonly redis: Redis,
    private readonly subscriber: Redis,
  ) {
    subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
      if (channel === SENTINEL) this.waiters.get(message)?.();
      else this.messages.push(`PUBLISH ${channel} ${message}`);
    });
    subscriber.on('smessage', (channel: string, message: string) =>
      this.messages.push(`SPUBLISH ${channel} ${message}`),
    );
  }

  static async open(port: number): Promise<ScriptBench> {
    const redis = new Redis({ port, host: '127.0.0.1' });
    const subscriber = new Redis({ port, host: '127.0.0.1' });
    await subscriber.psubscribe('*');
    await subscriber.ssubscribe(SHARD_CHANNEL);
    return new ScriptBench(port, redis, subscriber);
  }

  async close(): Promise<void> {
    await Promise.all([...this.denied.values()].map((r) => r.quit()));
    await Promise.all([this.redis.quit(), this.subscriber.quit()]);
  }

  /** Whether the server compiles `lua` (SCRIPT LOAD). */
  compiles(lua: string): Promise<boolean> {
    return this.redis.script('LOAD', lua).then(
      () => true,
      () => false,
    );
  }

  /**
   * Runs `testCase` with `lua` as its script's text (the source's, or a mutant's) and returns
   * what differs from the case, one line per difference ([] = it passed).
   */
  async check(testCase: ScriptCase, lua = REDIS_SCRIPTS[testCase.script].lua): Promise<string[]> {
    if (testCase.denied !== undefined) return this.checkDenied(testCase, lua);
    const keys = LAYOUT[testCase.script].map((role) => FIXTURE[role]);
    const given = Object.entries(testCase.given ?? {}) as [Role, string | [string, number]][];
    for (let attempt = 0; attempt < 200; attempt++) {
      const multi = this.redis.multi().del(...Object.values(FIXTURE));
      multi.time();
      for (const [role, state] of given) {
        if (typeof state === 'string') multi.set(FIXTURE[role], state);
        else multi.set(FIXTURE[role], state[0], 'PX', state[1]);
      }
      multi.time();
      multi.eval(lua, keys.length, ...keys, ...testCase.args);
      multi.time();
      for (const role of ROLES) multi.get(FIXTURE[role]);
      for (const role of ROLES) multi.call('PEXPIRETIME', FIXTURE[role]);
      multi.time();
      this.messages.length = 0;
      const results = (await multi.exec()) ?? [];
      const published = await this.endOfMessages();
      const at = (i: number) => results[i] ?? [new Error('no result'), null];
      const times = [1, given.length + 2, given.length + 4, results.length - 1].map(
        (i) => at(i)[1] as [string, string],
      );
      if (times.some((time) => !Array.isArray(time)))
        return [`the case's MULTI failed: ${results.map(([e]) => String(e)).join(', ')}`];
      const ms = times.map(([s, us]) => Number(s) * 1000 + Math.floor(Number(us) / 1000));
      if (ms.some((m) => m !== ms[0])) continue; // not one millisecond: again
      const base = ms[0];
      const [error, reply] = at(given.length + 3);
      const [beforeUs, afterUs] = [times[1], times[2]].map(
        ([s, us]) => Number(s) * 1_000_000 + Number(us),
      );
      const ctx: RunContext = { beforeUs, afterUs, reply };
      const problems: string[] = [];
      if (error)
        problems.push(`reply: expected ${show(testCase.reply)}, got the error ${String(error)}`);
      else compare(testCase.reply ?? null, reply, ctx, 'reply', problems);
      const first = given.length + 5;
      const seen = ROLES.map((role, i): Seen => {
        const expiresAt = Number(at(first + ROLES.length + i)[1]);
        const value = at(first + i)[1] as string | null;
        return { value, expiresIn: expiresAt < 0 ? expiresAt : expiresAt - base };
      });
      compareKeys(testCase, seen, 0, ctx, problems);
      comparePublished(testCase, published, problems);
      return problems;
    }
    return ['could not run the case within one millisecond in 200 attempts'];
  }

  /** The messages of the attempt that just ran: all arrive before a later PUBLISH's. */
  private async endOfMessages(): Promise<string[]> {
    const id = String(++this.sequence);
    const seen = new Promise<void>((resolve) => this.waiters.set(id, resolve));
    await this.redis.publish(SENTINEL, id);
    await seen;
    this.waiters.delete(id);
    return this.messages.splice(0);
  }

  private async checkDenied(testCase: ScriptCase, lua: string): Promise<string[]> {
    const command = testCase.denied!;
    let client = this.denied.get(command);
    if (!client) {
      const user = `lacks-${command}`;
      await this.redis.call('ACL', 'SETUSER', user, 'reset', 'on', 'nopass', '~*', '&*');
      await this.redis.call('ACL', 'SETUSER', user, '+@all', `-${command}`);
      client = new Redis({ port: this.port, host: '127.0.0.1', username: user, password: 'x' });
      this.denied.set(command, client);
    }
    const keys = LAYOUT[testCase.script].map((role) => FIXTURE[role]);
    const setup = this.redis.multi().del(...Object.values(FIXTURE));
    for (const [role, state] of Object.entries(testCase.given ?? {})) {
      if (typeof state === 'string') setup.set(FIXTURE[role as Role], state);
      else setup.set(FIXTURE[role as Role], state[0], 'PX', state[1]);
    }
    await setup.call('ACL', 'LOG', 'RESET').exec();
    this.messages.length = 0;
    const outcome = await client.eval(lua, keys.length, ...keys, ...testCase.args).then(
      (reply) => ({ reply }),
      (error: unknown) => ({ error: String(error) }),
    );
    if ('reply' in outcome)
      return [`expected a refusal of ${command}, got the reply ${JSON.stringify(outcome.reply)}`];
    // The error names the script's line only; the ACL log names the command.
    const log = (await this.redis.call('ACL', 'LOG')) as unknown[][];
    const refused = log.map((entry) => {
      const fields = new Map<unknown, unknown>();
      for (let k = 0; k < entry.length; k += 2) fields.set(entry[k], entry[k + 1]);
      return `${String(fields.get('username'))} ${String(fields.get('object'))}`;
    });
    const problems = refused.includes(`lacks-${command} ${command}`)
      ? []
      : [`expected a refusal of ${command}, got ${outcome.error} (ACL log: ${refused.join(', ')})`];
    // What the script did before the refusal stays: read it back, expiries to within 200 ms.
    const read = this.redis.multi();
    for (const role of ROLES) read.get(FIXTURE[role]).pttl(FIXTURE[role]);
    const results = ((await read.exec()) ?? []).map(([, value]) => value);
    const seen = ROLES.map((_, i) => ({
      value: results[2 * i] as string | null,
      expiresIn: Number(results[2 * i + 1]),
    }));
    const ctx = { beforeUs: 0, afterUs: 0, reply: undefined };
    compareKeys(testCase, seen, 200, ctx, problems);
    comparePublished(testCase, await this.endOfMessages(), problems);
    return problems;
  }
}

/** A fixture key as read after the script: its value, and ms until it expires (-1: never, -2: absent). */
interface Seen {
  readonly value: string | null;
  readonly expiresIn: number;
}

/** Every fixture key as the case expects it; an expiry `tolerance` ms short still matches. */
function compareKeys(
  testCase: ScriptCase,
  seen: readonly Seen[],
  tolerance: number,
  ctx: RunContext,
  problems: string[],
): void {
  ROLES.forEach((role, i) => {
    const { value, expiresIn } = seen[i];
    const want = expectedKey(testCase, role);
    const got =
      expiresIn === -2
        ? 'absent'
        : `${JSON.stringify(value)}${expiresIn === -1 ? ' (persistent)' : ` (expires +${expiresIn} ms)`}`;
    const fail = () => problems.push(`${role}: expected ${showKey(want)}, got ${got}`);
    if (want === null) {
      if (expiresIn !== -2) fail();
      return;
    }
    const [wantValue, wantTtl] = typeof want === 'string' || isMatcher(want) ? [want, -1] : want;
    const sameValue = isMatcher(wantValue) ? wantValue.test(value, ctx) : value === wantValue;
    const sameExpiry =
      wantTtl === -1
        ? expiresIn === -1
        : expiresIn <= wantTtl && expiresIn >= wantTtl - tolerance && expiresIn >= 0;
    if (expiresIn === -2 || !sameValue || !sameExpiry) fail();
  });
}

function comparePublished(testCase: ScriptCase, published: string[], problems: string[]): void {
  const want = testCase.published ?? [];
  if (JSON.stringify(published) !== JSON.stringify(want))
    problems.push(`published: expected ${JSON.stringify(want)}, got ${JSON.stringify(published)}`);
}

/** A key's state after the case: `then` over `given`; null = absent. */
function expectedKey(testCase: ScriptCase, role: Role): KeyState | null {
  const then = testCase.then ?? {};
  if (role in then) return then[role] ?? null;
  return testCase.given?.[role] ?? null;
}

function compare(want: Want, actual: unknown, ctx: RunContext, path: string, out: string[]): void {
  if (isMatcher(want)) {
    if (!want.test(actual, ctx))
      out.push(`${path}: expected ${want.describe}, got ${show(actual)}`);
    return;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(actual) || actual.length !== want.length) {
      out.push(`${path}: expected ${show(want)}, got ${show(actual)}`);
      return;
    }
    want.forEach((w: Want, i) => compare(w, actual[i], ctx, `${path}[${i}]`, out));
    return;
  }
  if (actual !== want) out.push(`${path}: expected ${show(want)}, got ${show(actual)}`);
}

function show(value: unknown): string {
  if (isMatcher(value)) return value.describe;
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  return JSON.stringify(value) ?? 'undefined';
}

function showKey(want: KeyState | null): string {
  if (want === null) return 'absent';
  if (typeof want === 'string' || isMatcher(want)) return `${show(want)} (persistent)`;
  return `${show(want[0])} (expires +${want[1]} ms)`;
}
