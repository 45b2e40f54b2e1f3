/**
 * `npm run test:lua-mutation`: mutation testing of the Lua scripts in
 * src/stores/redis/redis-scripts.ts, which Stryker cannot mutate (they are template strings).
 *
 * Makes simple, deterministic mutants of each script's text (see {@link mutantsOf}), and runs the
 * table of test/stores/redis-scripts.cases.ts against each — the table the Jest spec runs on the
 * scripts themselves — on one Redis server started here, the cases of the mutated script only,
 * stopping at the first case that fails (the mutant is killed). A mutant Redis cannot compile is
 * counted apart (invalid). Prints killed and survived per script, every survivor with its line,
 * and whether it is one of the {@link EQUIVALENT} mutants (listed with the reason, and in
 * test/MUTATION.md). Exits 1 if a mutant survives that is not listed, or a listed one is no
 * longer made or now killed (the list is stale).
 *
 *   npm run test:lua-mutation [-- <script name>...] [--verbose (the equivalent ones too)]
 *     [--why (the case that killed each mutant, and how)]
 */
import { REDIS_SCRIPTS, type ScriptName } from '../../src/stores/redis/redis-scripts';
import { SCRIPT_CASES } from '../stores/redis-scripts.cases';
import { ScriptBench } from '../stores/redis-scripts.harness';
import { RedisServer } from './redis-server';

export interface Mutant {
  readonly script: ScriptName;
  /** Stable name: `<script>:<line>:<column> <operator>: <before> → <after>` (line of the Lua text). */
  readonly id: string;
  readonly lua: string;
  /** The mutated line, for the report. */
  readonly line: string;
}

/**
 * Survivors that no case can kill: the script's observable behaviour (reply, keys, messages,
 * refusals) is the same. Keyed by mutant id.
 */
export const EQUIVALENT: Readonly<Record<string, string>> = {
  'acquire:14:26 number: 0 → 1':
    'the start value is used only without a counter: 0 + 1 and 1 + 1 are both below the clock in µs, which wins',
  'acquire:16:42 number: 1 → 2':
    "the counter's ':' is never its first character (a fence has digits before it), so the search finds it from 2 as well",
  'acquire:16:42 number: 1 → 0': "Lua 5.1's string.find treats a start of 0 as 1",
  'acquire:18:41 number: 1 → 0': "Lua 5.1's string.sub treats a start of 0 as 1",
  'acquire:26:12 relational: < → <=':
    'when the counter + 1 equals the clock, both keep the same value',
  "acquire:34:44 default removed: or '' → ∅":
    'the held branch runs only when SET NX failed, so the lock exists in this atomic step and GET returns it (a lock of another type fails GET either way)',
  "acquire:34:48 string: '' → '_'": 'the same: the default is never used',
  'finish:3:37 number: 1 → 0': "Lua 5.1's string.sub treats a start of 0 as 1",
  'registerLoad:2:52 number: 1 → 0': "Lua 5.1's string.find treats a start of 0 as 1",
};

interface Token {
  readonly kind: 'name' | 'number' | 'string' | 'op';
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

const KEYWORDS = new Set([
  'and',
  'break',
  'do',
  'else',
  'elseif',
  'end',
  'false',
  'for',
  'function',
  'if',
  'in',
  'local',
  'nil',
  'not',
  'or',
  'repeat',
  'return',
  'then',
  'true',
  'until',
  'while',
]);

/** Lua's tokens, enough for these scripts: names, integers, quoted strings, operators. */
export function tokenize(lua: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < lua.length) {
    const c = lua[i];
    if (/\s/.test(c)) {
      i++;
    } else if (lua.startsWith('--', i)) {
      while (i < lua.length && lua[i] !== '\n') i++;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < lua.length && lua[j] !== c) j += lua[j] === '\\' ? 2 : 1;
      tokens.push({ kind: 'string', text: lua.slice(i, j + 1), start: i, end: j + 1 });
      i = j + 1;
    } else if (/\d/.test(c)) {
      let j = i;
      while (j < lua.length && /\d/.test(lua[j])) j++;
      tokens.push({ kind: 'number', text: lua.slice(i, j), start: i, end: j });
      i = j;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < lua.length && /\w/.test(lua[j])) j++;
      tokens.push({ kind: 'name', text: lua.slice(i, j), start: i, end: j });
      i = j;
    } else {
      const two = lua.slice(i, i + 2);
      const text = ['==', '~=', '<=', '>=', '..'].includes(two) ? two : c;
      tokens.push({ kind: 'op', text, start: i, end: i + text.length });
      i += text.length;
    }
  }
  return tokens;
}

/** A replacement of `lua[start, end)`, by an operator. */
interface Edit {
  readonly operator: string;
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

const RELATIONAL: Record<string, string> = {
  '<': '<=',
  '<=': '<',
  '>': '>=',
  '>=': '>',
  '==': '~=',
  '~=': '==',
};

/** The index just past the expression starting at token `from`: up to `,` `)` `}` or a keyword at depth 0. */
function expressionEnd(tokens: Token[], from: number, stops: readonly string[]): number {
  let depth = 0;
  for (let k = from; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.kind === 'op' && '({['.includes(t.text)) depth++;
    else if (t.kind === 'op' && ')}]'.includes(t.text)) {
      if (depth === 0) return k;
      depth--;
    } else if (depth === 0 && (t.kind === 'op' || t.kind === 'name') && stops.includes(t.text)) {
      return k;
    }
  }
  return tokens.length;
}

/** Whether a token ends an operand (so a following `-` or `+` is binary). */
const endsOperand = (t: Token | undefined): boolean =>
  t !== undefined &&
  (t.kind === 'number' ||
    t.kind === 'string' ||
    (t.kind === 'name' && !KEYWORDS.has(t.text)) ||
    (t.kind === 'op' && ')]}'.includes(t.text)));

/** Every edit the operators make on one script's text. */
function editsOf(lua: string): Edit[] {
  const tokens = tokenize(lua);
  const edits: Edit[] = [];
  const at = (k: number): Token | undefined => tokens[k];
  tokens.forEach((t, k) => {
    const replace = (operator: string, text: string, end = t.end) =>
      edits.push({ operator, start: t.start, end, text });
    if (t.kind === 'op' && RELATIONAL[t.text]) replace('relational', RELATIONAL[t.text]);
    if (t.kind === 'name' && t.text === 'and') replace('logical', 'or');
    if (t.kind === 'name' && t.text === 'or') {
      replace('logical', 'and');
      // A default dropped: `x or '1'` → `x`.
      const next = at(k + 1);
      if (next && (next.kind === 'string' || next.kind === 'number'))
        edits.push({ operator: 'default removed', start: at(k - 1)!.end, end: next.end, text: '' });
    }
    if (t.kind === 'name' && t.text === 'not') replace('negation removed', '', at(k + 1)!.start);
    if (t.kind === 'op' && (t.text === '+' || t.text === '-') && endsOperand(at(k - 1)))
      replace('arithmetic', t.text === '+' ? '-' : '+');
    if (t.kind === 'op' && t.text === '*') replace('arithmetic', '/');
    if (t.kind === 'number') {
      const n = Number(t.text);
      replace('number', String(n + 1));
      if (n > 0) replace('number', String(n - 1));
    }
    if (t.kind === 'string') {
      const flipped = { "'1'": "'0'", "'0'": "'1'", "''": "'_'" }[t.text];
      if (flipped) replace('string', flipped);
      // An option dropped: `, 'NX'`, or `, 'PX', <expiry>` (the key then never expires).
      if (t.text === "'NX'")
        edits.push({ operator: 'option removed', start: at(k - 1)!.start, end: t.end, text: '' });
      if (t.text === "'PX'") {
        const expiry = expressionEnd(tokens, k + 2, [',']);
        edits.push({
          operator: 'option removed',
          start: at(k - 1)!.start,
          end: at(expiry - 1)!.end,
          text: '',
        });
      }
    }
    if (t.kind === 'name' && t.text === 'max' && at(k - 1)?.text === '.') replace('math', 'min');
    // A condition forced: `if <c> then` → `if true then` / `if false then`.
    if (t.kind === 'name' && (t.text === 'if' || t.text === 'elseif')) {
      const then = expressionEnd(tokens, k + 1, ['then']);
      for (const forced of ['true', 'false'])
        edits.push({
          operator: 'condition',
          start: at(k + 1)!.start,
          end: at(then - 1)!.end,
          text: forced,
        });
    }
    // A command not run: a `redis.call(...)` statement removed.
    if (t.kind === 'name' && t.text === 'redis' && at(k + 2)?.text === 'call') {
      const before = at(k - 1);
      // A statement: first, after then/else/do/end, or on a new line after a whole expression.
      const statement =
        before === undefined ||
        ['then', 'else', 'do', 'end'].includes(before.text) ||
        (endsOperand(before) && lua.slice(before.end, t.start).includes('\n'));
      if (statement) {
        const close = expressionEnd(tokens, k + 4, []);
        edits.push({ operator: 'call removed', start: t.start, end: at(close)!.end, text: '' });
      }
    }
    // An early return dropped: `then return x end` → `then end`.
    if (t.kind === 'name' && t.text === 'return') {
      const end = expressionEnd(tokens, k + 1, ['end', 'else', 'elseif']);
      if (at(end)?.text === 'end' || at(end)?.text === 'else' || at(end)?.text === 'elseif')
        edits.push({ operator: 'return removed', start: t.start, end: at(end - 1)!.end, text: '' });
    }
  });
  return edits;
}

/** The mutants of one script, in text order. */
export function mutantsOf(script: ScriptName, lua: string): Mutant[] {
  return editsOf(lua)
    .sort((a, b) => a.start - b.start || a.end - b.end)
    .map((edit) => {
      const mutated = lua.slice(0, edit.start) + edit.text + lua.slice(edit.end);
      const lineNo = lua.slice(0, edit.start).split('\n').length - 1;
      const column = edit.start - lua.lastIndexOf('\n', edit.start - 1);
      const before = lua.slice(edit.start, edit.end).replace(/\s+/g, ' ').trim();
      const lineStart = mutated.lastIndexOf('\n', edit.start - 1) + 1;
      const lineEnd = mutated.indexOf('\n', edit.start + edit.text.length);
      return {
        script,
        id: `${script}:${lineNo}:${column} ${edit.operator}: ${before} → ${edit.text || '∅'}`,
        lua: mutated,
        line: mutated.slice(lineStart, lineEnd === -1 ? undefined : lineEnd).trim(),
      };
    });
}

type Verdict = { kind: 'killed'; by: string } | { kind: 'survived' } | { kind: 'invalid' };

async function judge(bench: ScriptBench, mutant: Mutant): Promise<Verdict> {
  if (!(await bench.compiles(mutant.lua))) return { kind: 'invalid' };
  for (const testCase of SCRIPT_CASES.filter((c) => c.script === mutant.script)) {
    const problems = await bench.check(testCase, mutant.lua);
    if (problems.length > 0) return { kind: 'killed', by: `"${testCase.name}": ${problems[0]}` };
  }
  return { kind: 'survived' };
}

export interface ScriptReport {
  readonly script: ScriptName;
  readonly mutants: number;
  readonly killed: number;
  readonly invalid: number;
  /** Survivors listed in {@link EQUIVALENT}. */
  readonly equivalent: readonly Mutant[];
  /** Survivors not listed: a case is missing. */
  readonly survived: readonly Mutant[];
  /** Listed as equivalent, yet killed: the list is stale. */
  readonly killedEquivalent: readonly Mutant[];
  readonly kills: ReadonlyArray<{ readonly mutant: Mutant; readonly by: string }>;
}

/**
 * Every mutant of the scripts `names`, judged on `bench` (one server). The scripts themselves
 * must pass their cases first.
 */
export async function runLuaMutation(
  bench: ScriptBench,
  names: readonly ScriptName[] = Object.keys(REDIS_SCRIPTS) as ScriptName[],
): Promise<ScriptReport[]> {
  const reports: ScriptReport[] = [];
  for (const name of names) {
    for (const testCase of SCRIPT_CASES.filter((c) => c.script === name)) {
      const problems = await bench.check(testCase);
      if (problems.length > 0)
        throw new Error(`${name}: "${testCase.name}" fails on the script itself: ${problems[0]}`);
    }
    const mutants = mutantsOf(name, REDIS_SCRIPTS[name].lua);
    const report = {
      script: name,
      mutants: mutants.length,
      killed: 0,
      invalid: 0,
      equivalent: [] as Mutant[],
      survived: [] as Mutant[],
      killedEquivalent: [] as Mutant[],
      kills: [] as { mutant: Mutant; by: string }[],
    };
    for (const mutant of mutants) {
      const verdict = await judge(bench, mutant);
      const listed = EQUIVALENT[mutant.id] !== undefined;
      if (verdict.kind === 'killed') {
        report.killed++;
        report.kills.push({ mutant, by: verdict.by });
        if (listed) report.killedEquivalent.push(mutant);
      } else if (verdict.kind === 'invalid') report.invalid++;
      else if (listed) report.equivalent.push(mutant);
      else report.survived.push(mutant);
    }
    reports.push(report);
  }
  return reports;
}

/** Listed equivalents of the scripts `names` that no longer exist. */
export function staleEquivalents(reports: readonly ScriptReport[]): string[] {
  const made = new Set(
    reports.flatMap((r) => mutantsOf(r.script, REDIS_SCRIPTS[r.script].lua).map((m) => m.id)),
  );
  return Object.keys(EQUIVALENT).filter(
    (id) => reports.some((r) => id.startsWith(`${r.script}:`)) && !made.has(id),
  );
}

const percent = (part: number, whole: number) =>
  whole === 0 ? '-' : `${((100 * part) / whole).toFixed(1)} %`;

async function main(): Promise<number> {
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--')) as ScriptName[];
  const verbose = process.argv.includes('--verbose');
  const why = process.argv.includes('--why');
  const names = (Object.keys(REDIS_SCRIPTS) as ScriptName[]).filter(
    (name) => only.length === 0 || only.includes(name),
  );
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const began = performance.now();
  const server = await RedisServer.start();
  let reports: ScriptReport[];
  try {
    const bench = await ScriptBench.open(server.port);
    try {
      reports = await runLuaMutation(bench, names);
    } finally {
      await bench.close();
    }
  } finally {
    await server.stop();
  }
  const sum = (f: (r: ScriptReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  const line = (label: string, m: number, k: number, e: number, s: number, i: number) =>
    `${label.padEnd(13)} ${String(m).padStart(4)} mutants: ${k} killed, ${e} equivalent, ` +
    `${s} survived, ${i} invalid; ${percent(k, m - i)} killed, ${percent(k + e, m - i)} killed or equivalent`;
  for (const r of reports) {
    out(line(r.script, r.mutants, r.killed, r.equivalent.length, r.survived.length, r.invalid));
    for (const m of r.survived) out(`    SURVIVED    ${m.id}\n                ${m.line}`);
    if (verbose)
      for (const m of r.equivalent)
        out(
          `    equivalent  ${m.id}\n                ${m.line}\n                (${EQUIVALENT[m.id]})`,
        );
    if (why)
      for (const { mutant, by } of r.kills)
        out(`    killed      ${mutant.id}\n                by ${by}`);
  }
  out(
    `${line(
      'all',
      sum((r) => r.mutants),
      sum((r) => r.killed),
      sum((r) => r.equivalent.length),
      sum((r) => r.survived.length),
      sum((r) => r.invalid),
    )}; ` + `${((performance.now() - began) / 1000).toFixed(1)} s`,
  );
  const stale = [
    ...staleEquivalents(reports).map((id) => `listed as equivalent, no longer made: ${id}`),
    ...reports.flatMap((r) =>
      r.killedEquivalent.map((m) => `listed as equivalent, but killed: ${m.id}`),
    ),
  ];
  for (const s of stale) out(`stale: ${s}`);
  return sum((r) => r.survived.length) === 0 && stale.length === 0 ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(
        `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(2);
    },
  );
}
