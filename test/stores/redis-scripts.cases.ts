/**
 * The table of the Lua scripts' cases (src/stores/redis/redis-scripts.ts): every branch of every
 * script, each case the keys before, the arguments, the reply, the keys after (values and
 * expiries, to the millisecond) and the messages. Run by `redis-scripts.spec.ts` on the scripts
 * and by `test/support/lua-mutation.ts` on their mutants (see `redis-scripts.harness.ts`).
 *
 * Fixture values: `tok` is the caller's lock token, `other` someone else's; `gen` keys hold a
 * group's generation (absent: '1'); channel `ch` is published with PUBLISH, `sch` with SPUBLISH.
 */
import {
  CHANNEL as CH,
  FENCE_OF_REPLY,
  NOW,
  NOW_TEXT,
  SHARD_CHANNEL as SCH,
  type Matcher,
  type ScriptCase,
} from './redis-scripts.harness';

/** A lease of 5 s, the fencing counter kept 70 s (distinct from every other TTL here). */
const LEASE = '5000';
const RETENTION = 70_000;
/** A fencing counter far above the clock in µs (and below 2^53): +1 wins over the clock. */
const HIGH = 9_000_000_000_000_000;

/** `<fence>:<lineage>` with the fence the clock and the lineage `lineage` (or the clock too). */
const fenceAt = (lineage?: string): Matcher => ({
  describe: `"<the server time in µs>:${lineage ?? '<the same>'}"`,
  test: (actual, ctx) => {
    const [fence, kept] = String(actual).split(':');
    return (
      FENCE_OF_REPLY.test(actual, ctx) &&
      NOW.test(Number(fence), ctx) &&
      (lineage === undefined ? kept === fence : kept === lineage)
    );
  },
});

const acquireArgs = ({
  token = 'tok',
  check = '1',
  ahead = '0',
}: { token?: string; check?: string; ahead?: string } = {}) => [
  token,
  LEASE,
  String(RETENTION),
  check,
  ahead,
];

const acquire: ScriptCase[] = [
  {
    script: 'acquire',
    name: 'a current flag (no generation key: generation 1): loaded, with its PTTL',
    given: { loaded: ['1', 60_000] },
    args: acquireArgs(),
    reply: [2, 60_000],
  },
  {
    script: 'acquire',
    name: "a current flag of the group's generation: loaded",
    given: { loaded: ['3', 60_000], generation: '3' },
    args: acquireArgs(),
    reply: [2, 60_000],
  },
  {
    script: 'acquire',
    name: 'a flag without expiry: loaded, PTTL -1 (even with refresh-ahead)',
    given: { loaded: '1' },
    args: acquireArgs({ ahead: '1000' }),
    reply: [2, -1],
  },
  {
    script: 'acquire',
    name: 'a flag without expiry, refresh-ahead off: loaded, PTTL -1',
    given: { loaded: '1' },
    args: acquireArgs(),
    reply: [2, -1],
  },
  {
    script: 'acquire',
    name: 'a flag with exactly the refresh-ahead window left: loaded, not refreshed',
    given: { loaded: ['1', 1_000] },
    args: acquireArgs({ ahead: '1000' }),
    reply: [2, 1_000],
  },
  {
    script: 'acquire',
    name: 'a flag 1 ms into the refresh-ahead window, lock free: the lock is taken to refresh',
    given: { loaded: ['1', 999] },
    args: acquireArgs({ ahead: '1000' }),
    reply: [1, NOW, NOW_TEXT, '1', 999],
    then: { lock: ['tok', 5_000], fence: [fenceAt(), RETENTION] },
  },
  {
    script: 'acquire',
    name: 'in the refresh-ahead window of generation 3, lock free: taken, generation 3 reported',
    given: { loaded: ['3', 500], generation: '3' },
    args: acquireArgs({ ahead: '1000' }),
    reply: [1, NOW, NOW_TEXT, '3', 500],
    then: { lock: ['tok', 5_000], fence: [fenceAt(), RETENTION] },
  },
  {
    script: 'acquire',
    name: 'in the refresh-ahead window, lock held: loaded and being refreshed, no waiting mark',
    given: { loaded: ['1', 500], lock: ['other', 4_000] },
    args: acquireArgs({ ahead: '1000' }),
    reply: [3, 500],
  },
  {
    script: 'acquire',
    name: 'a flag of an earlier generation is ignored: the lock is taken, generation 3 reported',
    given: { loaded: ['2', 60_000], generation: '3' },
    args: acquireArgs(),
    reply: [1, NOW, NOW_TEXT, '3', -2],
    then: { lock: ['tok', 5_000], fence: [fenceAt(), RETENTION] },
  },
  {
    script: 'acquire',
    name: 'a flag of an earlier generation, lock held: held (not loaded), the user marked waited on',
    given: { loaded: ['2', 60_000], generation: '3', lock: ['other', 4_000] },
    args: acquireArgs({ ahead: '1000' }),
    reply: [0, 4_000, 'other'],
    then: { waiting: ['1', 9_000] },
  },
  {
    script: 'acquire',
    name: 'no flag, no counter: the lock (token, lease) and a new counter in a new lineage',
    args: acquireArgs(),
    reply: [1, NOW, NOW_TEXT, '1', -2],
    then: { lock: ['tok', 5_000], fence: [fenceAt(), RETENTION] },
  },
  {
    script: 'acquire',
    name: 'the flag not checked: a current flag is ignored, no generation reported',
    given: { loaded: ['1', 60_000] },
    args: acquireArgs({ check: '0' }),
    reply: [1, NOW, NOW_TEXT, '', -2],
    then: { lock: ['tok', 5_000], fence: [fenceAt(), RETENTION] },
  },
  {
    script: 'acquire',
    name: 'a counter far ahead of the clock, with its lineage: +1, the lineage kept',
    given: { fence: [`${HIGH}:123`, 1_000] },
    args: acquireArgs(),
    reply: [1, HIGH + 1, '123', '1', -2],
    then: { lock: ['tok', 5_000], fence: [`${HIGH + 1}:123`, RETENTION] },
  },
  {
    script: 'acquire',
    name: 'a counter behind the clock, with its lineage: the clock, the lineage kept',
    given: { fence: ['41:123', 1_000] },
    args: acquireArgs(),
    reply: [1, NOW, '123', '1', -2],
    then: { lock: ['tok', 5_000], fence: [fenceAt('123'), RETENTION] },
  },
  {
    script: 'acquire',
    name: 'a counter of the old format (no lineage) far ahead: +1, a new lineage',
    given: { fence: [String(HIGH), 1_000] },
    args: acquireArgs(),
    reply: [1, HIGH + 1, NOW_TEXT, '1', -2],
    then: {
      lock: ['tok', 5_000],
      fence: [
        {
          describe: `"${HIGH + 1}:<the server time in µs>"`,
          test: (actual, ctx) =>
            FENCE_OF_REPLY.test(actual, ctx) && String(actual).startsWith(`${HIGH + 1}:`),
        },
        RETENTION,
      ],
    },
  },
  {
    script: 'acquire',
    name: 'a counter of the old format behind the clock: the clock, a new lineage',
    given: { fence: '41' },
    args: acquireArgs(),
    reply: [1, NOW, NOW_TEXT, '1', -2],
    then: { lock: ['tok', 5_000], fence: [fenceAt(), RETENTION] },
  },
  {
    script: 'acquire',
    name: 'held: the lock PTTL and holder; the user marked waited on for its lease + one lease',
    given: { lock: ['other', 4_000] },
    args: acquireArgs(),
    reply: [0, 4_000, 'other'],
    then: { waiting: ['1', 9_000] },
  },
  {
    script: 'acquire',
    name: 'held by the same token: NX still refuses it',
    given: { lock: ['tok', 4_000], fence: ['41:123', 1_000] },
    args: acquireArgs(),
    reply: [0, 4_000, 'tok'],
    then: { waiting: ['1', 9_000] },
  },
  {
    script: 'acquire',
    name: 'held without expiry: PTTL -1, the mark one lease long',
    given: { lock: 'other' },
    args: acquireArgs(),
    reply: [0, -1, 'other'],
    then: { waiting: ['1', 5_000] },
  },
  {
    script: 'acquire',
    name: 'held, a longer waiting mark: left as it is',
    given: { lock: ['other', 4_000], waiting: ['x', 20_000] },
    args: acquireArgs(),
    reply: [0, 4_000, 'other'],
  },
  {
    script: 'acquire',
    name: 'held, a waiting mark exactly as long: left as it is',
    given: { lock: ['other', 4_000], waiting: ['x', 9_000] },
    args: acquireArgs(),
    reply: [0, 4_000, 'other'],
  },
  {
    script: 'acquire',
    name: 'held, a waiting mark 1 ms shorter: lengthened',
    given: { lock: ['other', 4_000], waiting: ['x', 8_999] },
    args: acquireArgs(),
    reply: [0, 4_000, 'other'],
    then: { waiting: ['1', 9_000] },
  },
  {
    script: 'acquire',
    name: 'held, a waiting mark without expiry: given one (the lease + one lease)',
    given: { lock: ['other', 4_000], waiting: 'x' },
    args: acquireArgs(),
    reply: [0, 4_000, 'other'],
    then: { waiting: ['1', 9_000] },
  },
];

const extend: ScriptCase[] = [
  {
    script: 'extend',
    name: 'ours: the lease starts again',
    given: { lock: ['tok', 1_000] },
    args: ['tok', LEASE],
    reply: 1,
    then: { lock: ['tok', 5_000] },
  },
  {
    script: 'extend',
    name: "someone else's: untouched",
    given: { lock: ['other', 1_000] },
    args: ['tok', LEASE],
    reply: 0,
  },
  {
    script: 'extend',
    name: 'no lock: none made',
    args: ['tok', LEASE],
    reply: 0,
  },
];

const notice = (cmd = 'PUBLISH', channel = CH) => [channel, 'msg', cmd];

const release: ScriptCase[] = [
  {
    script: 'release',
    name: 'ours, waiters marked: deleted, mark deleted, waiters told',
    given: { lock: ['tok', 1_000], waiting: ['1', 9_000] },
    args: ['tok', ...notice()],
    reply: 1,
    then: { lock: null, waiting: null },
    published: [`PUBLISH ${CH} msg`],
  },
  {
    script: 'release',
    name: 'ours, waiters marked, sharded notices: SPUBLISH',
    given: { lock: ['tok', 1_000], waiting: ['1', 9_000] },
    args: ['tok', ...notice('SPUBLISH', SCH)],
    reply: 1,
    then: { lock: null, waiting: null },
    published: [`SPUBLISH ${SCH} msg`],
  },
  {
    script: 'release',
    name: 'ours, nobody waiting: deleted, nothing published',
    given: { lock: ['tok', 1_000] },
    args: ['tok', ...notice()],
    reply: 1,
    then: { lock: null },
  },
  {
    script: 'release',
    name: "someone else's, waiters marked: untouched, nothing published",
    given: { lock: ['other', 1_000], waiting: ['1', 9_000] },
    args: ['tok', ...notice()],
    reply: 0,
  },
  {
    script: 'release',
    name: 'no lock, waiters marked: nothing done',
    given: { waiting: ['1', 9_000] },
    args: ['tok', ...notice()],
    reply: 0,
  },
];

const finishArgs = ({
  ttl = '60000',
  generation = '',
  cmd = 'PUBLISH',
  channel = CH,
}: { ttl?: string; generation?: string; cmd?: string; channel?: string } = {}) => [
  'tok',
  ttl,
  channel,
  'L',
  cmd,
  generation,
  'R',
  '30000',
];

const finish: ScriptCase[] = [
  {
    script: 'finish',
    name: 'ours, waiters marked: flag set (generation 1), lock and mark deleted, loaded notice',
    given: { lock: ['tok', 1_000], waiting: ['1', 9_000] },
    args: finishArgs(),
    reply: [1, 1],
    then: { loaded: ['1', 60_000], lock: null, waiting: null, finished: ['11tok', 30_000] },
    published: [`PUBLISH ${CH} L`],
  },
  {
    script: 'finish',
    name: 'ours, sharded notices: SPUBLISH',
    given: { lock: ['tok', 1_000], waiting: ['1', 9_000] },
    args: finishArgs({ cmd: 'SPUBLISH', channel: SCH }),
    reply: [1, 1],
    then: { loaded: ['1', 60_000], lock: null, waiting: null, finished: ['11tok', 30_000] },
    published: [`SPUBLISH ${SCH} L`],
  },
  {
    script: 'finish',
    name: 'ours, nobody waiting: flag set, nothing published; an older flag replaced',
    given: { lock: ['tok', 1_000], loaded: ['1', 500] },
    args: finishArgs(),
    reply: [1, 1],
    then: { loaded: ['1', 60_000], lock: null, finished: ['11tok', 30_000] },
  },
  {
    script: 'finish',
    name: "ours, the acquire's generation current: the flag holds it",
    given: { lock: ['tok', 1_000], generation: '3' },
    args: finishArgs({ generation: '3' }),
    reply: [1, 1],
    then: { loaded: ['3', 60_000], lock: null, finished: ['11tok', 30_000] },
  },
  {
    script: 'finish',
    name: "ours, generation unknown (''): the group's current one",
    given: { lock: ['tok', 1_000], generation: '3' },
    args: finishArgs(),
    reply: [1, 1],
    then: { loaded: ['3', 60_000], lock: null, finished: ['11tok', 30_000] },
  },
  {
    script: 'finish',
    name: 'ours, begun before a clearAllLoaded: no flag, lock and mark deleted, released notice',
    given: { lock: ['tok', 1_000], generation: '3', waiting: ['1', 9_000] },
    args: finishArgs({ generation: '2' }),
    reply: [1, 0],
    then: { lock: null, waiting: null, finished: ['10tok', 30_000] },
    published: [`PUBLISH ${CH} R`],
  },
  {
    script: 'finish',
    name: 'not fresh: a current flag (a later load) left alone',
    given: { lock: ['tok', 1_000], generation: '3', loaded: ['3', 20_000] },
    args: finishArgs({ generation: '2', ttl: '0' }),
    reply: [1, 0],
    then: { lock: null, finished: ['10tok', 30_000] },
  },
  {
    script: 'finish',
    name: 'not ours, a current flag: flag and lock left alone, waiters still told it is loaded',
    given: { lock: ['other', 1_000], loaded: ['1', 20_000], waiting: ['1', 9_000] },
    args: finishArgs(),
    reply: [0, 1],
    then: { waiting: null, finished: ['01tok', 30_000] },
    published: [`PUBLISH ${CH} L`],
  },
  {
    script: 'finish',
    name: 'not ours (no lock), no flag: the missing flag is set',
    args: finishArgs(),
    reply: [0, 1],
    then: { loaded: ['1', 60_000], finished: ['01tok', 30_000] },
  },
  {
    script: 'finish',
    name: "not ours, the flag of an earlier generation: replaced by the group's",
    given: { lock: ['other', 1_000], loaded: ['2', 20_000], generation: '3' },
    args: finishArgs({ generation: '3' }),
    reply: [0, 1],
    then: { loaded: ['3', 60_000], finished: ['01tok', 30_000] },
  },
  {
    script: 'finish',
    name: 'ours, TTL 0: the flag deleted',
    given: { lock: ['tok', 1_000], loaded: ['1', 20_000] },
    args: finishArgs({ ttl: '0' }),
    reply: [1, 1],
    then: { loaded: null, lock: null, finished: ['11tok', 30_000] },
  },
  {
    script: 'finish',
    name: 'not ours, TTL 0, a current flag: left alone',
    given: { lock: ['other', 1_000], loaded: ['1', 20_000] },
    args: finishArgs({ ttl: '0' }),
    reply: [0, 1],
    then: { finished: ['01tok', 30_000] },
  },
  {
    script: 'finish',
    name: 'not ours, TTL 0, a stale flag: deleted',
    given: { loaded: ['2', 20_000], generation: '3' },
    args: finishArgs({ ttl: '0' }),
    reply: [0, 1],
    then: { loaded: null, finished: ['01tok', 30_000] },
  },
  {
    script: 'finish',
    name: 'run again after it ran (owned, counted): that result, and nothing changes',
    given: { finished: ['11tok', 20_000], waiting: ['1', 9_000], loaded: ['1', 1_000] },
    args: finishArgs(),
    reply: [1, 1],
  },
  {
    script: 'finish',
    name: 'run again after a flag was cleared: the flag stays cleared, nothing published',
    given: { finished: ['11tok', 20_000], waiting: ['1', 9_000], lock: ['other', 4_000] },
    args: finishArgs(),
    reply: [1, 1],
  },
  {
    script: 'finish',
    name: 'run again after it ran (owned, not counted): that result',
    given: { finished: ['10tok', 20_000], generation: '3' },
    args: finishArgs({ generation: '3' }),
    reply: [1, 0],
  },
  {
    script: 'finish',
    name: 'run again after it ran (not owned, counted): that result',
    given: { finished: ['01tok', 20_000], lock: ['tok', 1_000] },
    args: finishArgs(),
    reply: [0, 1],
  },
  {
    script: 'finish',
    name: "another token's marker: a finish as usual, the marker replaced",
    given: { finished: ['11other', 20_000], lock: ['tok', 1_000] },
    args: finishArgs(),
    reply: [1, 1],
    then: { loaded: ['1', 60_000], lock: null, finished: ['11tok', 30_000] },
  },
  {
    script: 'finish',
    name: 'a marker of a longer token beginning with ours: a finish as usual',
    given: { finished: ['11tokX', 20_000], lock: ['tok', 1_000] },
    args: finishArgs(),
    reply: [1, 1],
    then: { loaded: ['1', 60_000], lock: null, finished: ['11tok', 30_000] },
  },
];

const finishLock: ScriptCase[] = [
  {
    script: 'finishLock',
    name: 'ours, waiters marked: deleted, mark deleted, waiters told',
    given: { lock: ['tok', 1_000], waiting: ['1', 9_000] },
    args: ['tok', ...notice()],
    reply: 1,
    then: { lock: null, waiting: null },
    published: [`PUBLISH ${CH} msg`],
  },
  {
    script: 'finishLock',
    name: 'ours, sharded notices: SPUBLISH',
    given: { lock: ['tok', 1_000], waiting: ['1', 9_000] },
    args: ['tok', ...notice('SPUBLISH', SCH)],
    reply: 1,
    then: { lock: null, waiting: null },
    published: [`SPUBLISH ${SCH} msg`],
  },
  {
    script: 'finishLock',
    name: 'ours, nobody waiting: deleted, nothing published',
    given: { lock: ['tok', 1_000] },
    args: ['tok', ...notice()],
    reply: 1,
    then: { lock: null },
  },
  {
    script: 'finishLock',
    name: "someone else's, waiters marked: lock kept, waiters still told (the flag is set)",
    given: { lock: ['other', 1_000], waiting: ['1', 9_000] },
    args: ['tok', ...notice()],
    reply: 0,
    then: { waiting: null },
    published: [`PUBLISH ${CH} msg`],
  },
  {
    script: 'finishLock',
    name: 'no lock, nobody waiting: nothing',
    args: ['tok', ...notice()],
    reply: 0,
  },
];

const watch: ScriptCase[] = [
  {
    script: 'watch',
    name: 'a current flag: its PTTL, no mark',
    given: { loaded: ['1', 20_000] },
    args: ['5000'],
    reply: 20_000,
  },
  {
    script: 'watch',
    name: "a current flag of the group's generation: its PTTL, no mark",
    given: { loaded: ['3', 20_000], generation: '3' },
    args: ['5000'],
    reply: 20_000,
  },
  {
    script: 'watch',
    name: 'a flag without expiry: -1, no mark',
    given: { loaded: '1' },
    args: ['5000'],
    reply: -1,
  },
  {
    script: 'watch',
    name: 'a flag of an earlier generation: -2, marked for watchMs',
    given: { loaded: ['2', 20_000], generation: '3' },
    args: ['5000'],
    reply: -2,
    then: { waiting: ['1', 5_000] },
  },
  {
    script: 'watch',
    name: 'no flag: -2, marked for watchMs',
    args: ['5000'],
    reply: -2,
    then: { waiting: ['1', 5_000] },
  },
  {
    script: 'watch',
    name: 'no flag, a longer mark: left as it is',
    given: { waiting: ['x', 20_000] },
    args: ['5000'],
    reply: -2,
  },
  {
    script: 'watch',
    name: 'no flag, a mark exactly as long: left as it is',
    given: { waiting: ['x', 5_000] },
    args: ['5000'],
    reply: -2,
  },
  {
    script: 'watch',
    name: 'no flag, a mark 1 ms shorter: lengthened',
    given: { waiting: ['x', 4_999] },
    args: ['5000'],
    reply: -2,
    then: { waiting: ['1', 5_000] },
  },
];

const setLoaded: ScriptCase[] = [
  {
    script: 'setLoaded',
    name: 'sets the flag (generation 1), deletes the mark, publishes',
    given: { waiting: ['1', 9_000], loaded: ['1', 500] },
    args: ['60000', ...notice()],
    reply: 1,
    then: { loaded: ['1', 60_000], waiting: null },
    published: [`PUBLISH ${CH} msg`],
  },
  {
    script: 'setLoaded',
    name: "the group's generation, published even with nobody marked (sharded)",
    given: { generation: '3' },
    args: ['60000', ...notice('SPUBLISH', SCH)],
    reply: 1,
    then: { loaded: ['3', 60_000] },
    published: [`SPUBLISH ${SCH} msg`],
  },
];

/** The probe runs every command the scripts run: each one denied makes it fail. */
const probe: ScriptCase[] = [
  {
    script: 'probe',
    name: 'runs, leaves nothing behind, publishes',
    args: notice(),
    reply: 1,
    published: [`PUBLISH ${CH} msg`],
  },
  {
    script: 'probe',
    name: 'runs with a stale probe key there, deletes it',
    given: { probe: ['x', 20_000] },
    args: notice('SPUBLISH', SCH),
    reply: 1,
    then: { probe: null },
    published: [`SPUBLISH ${SCH} msg`],
  },
  // A refusal stops the script; what ran before it stays (the key with its 1 s expiry).
  ...(['set', 'get', 'pttl', 'pexpire', 'time', 'del', 'publish'] as const).map(
    (command): ScriptCase => ({
      script: 'probe',
      name: `fails for a user denied ${command.toUpperCase()}`,
      args: notice(),
      denied: command,
      then: { probe: command === 'set' || command === 'publish' ? null : ['1', 1_000] },
    }),
  ),
  {
    script: 'probe',
    name: 'a refusal after the SET leaves a probe key that was there as it was (NX)',
    given: { probe: ['x', 20_000] },
    args: notice(),
    denied: 'get',
  },
];

const clear: ScriptCase[] = [
  {
    script: 'clear',
    name: 'deletes the flag, publishes',
    given: { loaded: ['1', 20_000] },
    args: notice(),
    reply: 1,
    then: { loaded: null },
    published: [`PUBLISH ${CH} msg`],
  },
  {
    script: 'clear',
    name: 'no flag: still publishes (sharded)',
    args: notice('SPUBLISH', SCH),
    reply: 1,
    published: [`SPUBLISH ${SCH} msg`],
  },
];

const owns: ScriptCase[] = [
  { script: 'owns', name: 'ours: 1', given: { lock: ['tok', 1_000] }, args: ['tok'], reply: 1 },
  {
    script: 'owns',
    name: "someone else's: 0",
    given: { lock: ['other', 1_000] },
    args: ['tok'],
    reply: 0,
  },
  { script: 'owns', name: 'none: 0', args: ['tok'], reply: 0 },
];

const flag: ScriptCase[] = [
  {
    script: 'flag',
    name: 'a current flag: its PTTL',
    given: { loaded: ['1', 20_000] },
    args: [],
    reply: 20_000,
  },
  {
    script: 'flag',
    name: "a flag of the group's generation: its PTTL",
    given: { loaded: ['3', 20_000], generation: '3' },
    args: [],
    reply: 20_000,
  },
  {
    script: 'flag',
    name: 'a flag without expiry: -1',
    given: { loaded: '1' },
    args: [],
    reply: -1,
  },
  {
    script: 'flag',
    name: 'a flag of an earlier generation: -2',
    given: { loaded: ['2', 20_000], generation: '3' },
    args: [],
    reply: -2,
  },
  { script: 'flag', name: 'no flag: -2', args: [], reply: -2 },
];

const clearGroup: ScriptCase[] = [
  {
    script: 'clearGroup',
    name: 'no generation yet (1): 2, kept without expiry, nothing published',
    args: ['', '', ''],
    reply: '2',
    then: { generation: '2' },
  },
  {
    script: 'clearGroup',
    name: 'no publish command, a channel and message given: nothing published',
    given: { generation: '4' },
    args: notice(''),
    reply: '5',
    then: { generation: '5' },
  },
  {
    script: 'clearGroup',
    name: 'generation 99999999999: 100000000000 (an integer, not 1e+11), published',
    given: { generation: '99999999999' },
    args: notice(),
    reply: '100000000000',
    then: { generation: '100000000000' },
    published: [`PUBLISH ${CH} msg`],
  },
  {
    script: 'clearGroup',
    name: 'generation 7, sharded: 8, SPUBLISH',
    given: { generation: '7' },
    args: notice('SPUBLISH', SCH),
    reply: '8',
    then: { generation: '8' },
    published: [`SPUBLISH ${SCH} msg`],
  },
];

const registerLoad: ScriptCase[] = [
  {
    script: 'registerLoad',
    name: 'an empty registry: the name between newlines',
    args: ['A'],
    reply: 1,
    then: { registry: '\nA\n' },
  },
  {
    script: 'registerLoad',
    name: 'a new name: appended',
    given: { registry: '\nA\n' },
    args: ['B'],
    reply: 1,
    then: { registry: '\nA\nB\n' },
  },
  {
    script: 'registerLoad',
    name: 'a name already there (first): unchanged',
    given: { registry: '\nA\nB\n' },
    args: ['A'],
    reply: 1,
  },
  {
    script: 'registerLoad',
    name: 'a name already there (last): unchanged',
    given: { registry: '\nA\nB\n' },
    args: ['B'],
    reply: 1,
  },
  {
    script: 'registerLoad',
    name: 'a name that only begins or ends another: appended',
    given: { registry: '\nAB\nBA\n' },
    args: ['A'],
    reply: 1,
    then: { registry: '\nAB\nBA\nA\n' },
  },
  {
    script: 'registerLoad',
    name: "a name that would match another as a Lua pattern ('.'): appended",
    given: { registry: '\nAxB\n' },
    args: ['A.B'],
    reply: 1,
    then: { registry: '\nAxB\nA.B\n' },
  },
];

const loadNames: ScriptCase[] = [
  { script: 'loadNames', name: "no registry: ''", args: [], reply: '' },
  {
    script: 'loadNames',
    name: 'the registry as it is',
    given: { registry: '\nA\nB\n' },
    args: [],
    reply: '\nA\nB\n',
  },
];

export const SCRIPT_CASES: readonly ScriptCase[] = [
  ...acquire,
  ...extend,
  ...release,
  ...finish,
  ...finishLock,
  ...watch,
  ...setLoaded,
  ...probe,
  ...clear,
  ...owns,
  ...flag,
  ...clearGroup,
  ...registerLoad,
  ...loadNames,
];
