import { createHash } from 'node:crypto';

/** A Lua script and its SHA1, run by EVALSHA (EVAL when the server does not have it yet). */
export interface LuaScript {
  readonly numberOfKeys: number;
  readonly lua: string;
  readonly sha: string;
}

/**
 * Lua run by {@link RedisLoadStore}, by EVALSHA with an EVAL fallback on NOSCRIPT (never
 * `defineCommand`, which would add methods to a client the app lent us). Every script touches
 * only the keys of one user, which share a hash slot. Notices go out with the publish command
 * the store passes: `PUBLISH` on the prefix's channel, or `SPUBLISH` on the user's group channel
 * (same slot as the keys) on a Cluster.
 */
const SOURCES = {
  /**
   * Guarantees: one round trip that reports the flag, or takes the lock only if free (NX, with a
   * lease) and returns a fencing token strictly greater than any earlier one for this user, or
   * marks the user as waited on (until the lease ends plus one lease; a mark is only ever
   * lengthened) so the holder's finish or release publishes. The token is the server clock in µs,
   * or the previous token + 1 if that is larger: it keeps increasing after the counter expires
   * (fenceRetentionMs after its last use) or Redis restarts empty. The counter also keeps its
   * lineage, the server time when it was created (`<fence>:<lineage>`): leases of one lineage
   * were granted from one continuous lock state; a new lineage means that state was lost.
   * A flag counts only if it holds the group's generation (absent: '1'); a flag from before a
   * `clearAllLoaded` is ignored (and overwritten by the next finish).
   * Refresh-ahead (ARGV[5] > 0): a flag with less than ARGV[5] ms left takes the lock if free
   * (returning the flag's PTTL as the fifth value), else reports the user loaded and refreshing.
   * KEYS: loaded, lock, fence, waiting, generation. ARGV: token, leaseMs, fenceRetentionMs,
   * checkFlag, refreshAheadMs. Returns {2, flag pttl} loaded | {3, flag pttl} loaded and being
   * refreshed | {1, fence, lineage, generation, flag pttl or -2} acquired | {0, lock pttl, holder's
   * token} held.
   */
  acquire: {
    numberOfKeys: 5,
    lua: `
local gen = ''
local left = -2
if ARGV[4] == '1' then
  gen = redis.call('GET', KEYS[5]) or '1'
  if redis.call('GET', KEYS[1]) == gen then
    left = redis.call('PTTL', KEYS[1])
    if left == -1 or left >= tonumber(ARGV[5]) then return {2, left} end
  end
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local last = redis.call('GET', KEYS[3])
  local fence, lineage = 0, nil
  if last then
    local colon = string.find(last, ':', 1, true)
    if colon then
      fence = tonumber(string.sub(last, 1, colon - 1))
      lineage = string.sub(last, colon + 1)
    else
      fence = tonumber(last)
    end
  end
  lineage = lineage or string.format('%d', now)
  fence = fence + 1
  if fence < now then fence = now end
  redis.call('SET', KEYS[3], string.format('%d', fence) .. ':' .. lineage, 'PX', ARGV[3])
  return {1, fence, lineage, gen, left}
end
local pttl = redis.call('PTTL', KEYS[2])
if left ~= -2 then return {3, left} end
local mark = math.max(pttl, 0) + tonumber(ARGV[2])
if redis.call('PTTL', KEYS[4]) < mark then redis.call('SET', KEYS[4], '1', 'PX', mark) end
return {0, pttl, redis.call('GET', KEYS[2]) or ''}`,
  },
  /** Guarantees: the lease is extended only while ARGV[1] owns the lock. KEYS: lock. ARGV: token, leaseMs. */
  extend: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`,
  },
  /**
   * Guarantees: compare-token-and-delete; waiters (if any are marked) are told to retry only
   * when the lock was ours. KEYS: lock, waiting. ARGV: token, channel, message, publish command.
   */
  release: {
    numberOfKeys: 2,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  if redis.call('DEL', KEYS[2]) == 1 then redis.call(ARGV[4], ARGV[2], ARGV[3]) end
  return 1
end
return 0`,
  },
  /**
   * Guarantees: in one atomic step, sets the flag with its TTL (0: deletes it), deletes the lock
   * only if ARGV[1] still owns it, and notifies waiters if any are marked. A holder that lost the
   * lock leaves a current flag alone: it was written by a later load (a stale holder's late
   * finish would cut its TTL short, or a TTL of 0 delete it); it still sets a missing one. A load that began in an
   * earlier generation (ARGV[6], from its acquire; '' = unknown) than the group's now — a
   * `clearAllLoaded` ran meanwhile — sets no flag and tells waiters to retry (ARGV[7]) instead.
   * Runs at most once per token: it leaves its result and token in KEYS[5] for ARGV[8] ms, as
   * `<owned><counts><token>`, and a finish of the same token that finds them there changes
   * nothing and returns that result. So a finish retried after a timeout whose first attempt did
   * run (it deleted the lock itself) reports the lease as kept, not lost, and does not write again
   * a flag cleared meanwhile. A retry later than ARGV[8] ms after the first attempt ran (the
   * marker gone) runs as a finish that lost its lock. One marker per user: a later load's finish
   * replaces it.
   * KEYS: loaded, lock, waiting, generation, finished. ARGV: token, loadedTtlMs, channel, loaded
   * message, publish command, generation, released message, markerMs. Returns {1 if the lock was
   * still ours, 1 if the load counts (its generation is current)}.
   */
  finish: {
    numberOfKeys: 5,
    lua: `
local done = redis.call('GET', KEYS[5])
if done and string.sub(done, 3) == ARGV[1] then
  return {tonumber(string.sub(done, 1, 1)), tonumber(string.sub(done, 2, 2))}
end
local gen = redis.call('GET', KEYS[4]) or '1'
local fresh = ARGV[6] == '' or ARGV[6] == gen
local owned = 0
if redis.call('GET', KEYS[2]) == ARGV[1] then owned = 1 end
if fresh and (owned == 1 or redis.call('GET', KEYS[1]) ~= gen) then
  if ARGV[2] == '0' then redis.call('DEL', KEYS[1])
  else redis.call('SET', KEYS[1], gen, 'PX', ARGV[2]) end
end
if owned == 1 then redis.call('DEL', KEYS[2]) end
if redis.call('DEL', KEYS[3]) == 1 then
  redis.call(ARGV[5], ARGV[3], fresh and ARGV[4] or ARGV[7])
end
local counts = fresh and 1 or 0
redis.call('SET', KEYS[5], owned .. counts .. ARGV[1], 'PX', ARGV[8])
return {owned, counts}`,
  },
  /**
   * Guarantees: the lock is deleted only if ARGV[1] owns it, and marked waiters hear the user is
   * loaded (the flag lives in another store). KEYS: lock, waiting. ARGV: token, channel, message,
   * publish command.
   */
  finishLock: {
    numberOfKeys: 2,
    lua: `
local owned = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  owned = 1
end
if redis.call('DEL', KEYS[2]) == 1 then redis.call(ARGV[4], ARGV[2], ARGV[3]) end
return owned`,
  },
  /**
   * Guarantees: reports the flag's PTTL (-2 for a flag of an earlier generation) and, while it
   * is unset, marks the user as waited on for ARGV[1] ms. KEYS: loaded, waiting, generation.
   */
  watch: {
    numberOfKeys: 3,
    lua: `
local left = -2
if redis.call('GET', KEYS[1]) == (redis.call('GET', KEYS[3]) or '1') then
  left = redis.call('PTTL', KEYS[1])
end
if left == -2 and redis.call('PTTL', KEYS[2]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
end
return left`,
  },
  /**
   * Guarantees: the flag is set and every process is notified in one step (public `setLoaded`,
   * always published). KEYS: loaded, waiting, generation. ARGV: ttlMs, channel, message,
   * publish command.
   */
  setLoaded: {
    numberOfKeys: 3,
    lua: `
redis.call('SET', KEYS[1], redis.call('GET', KEYS[3]) or '1', 'PX', ARGV[1])
redis.call('DEL', KEYS[2])
redis.call(ARGV[4], ARGV[2], ARGV[3])
return 1`,
  },
  /**
   * Guarantees: runs once every command the other scripts run (SET NX PX, GET, PTTL, PEXPIRE,
   * TIME, DEL, PUBLISH), on the probe key of the prefix only, leaving nothing behind: at boot, a
   * missing ACL permission shows here instead of at the first user. KEYS: probe. ARGV: channel,
   * message, publish command.
   */
  probe: {
    numberOfKeys: 1,
    lua: `
redis.call('SET', KEYS[1], '1', 'NX', 'PX', '1000')
redis.call('GET', KEYS[1])
redis.call('PTTL', KEYS[1])
redis.call('PEXPIRE', KEYS[1], '1000')
redis.call('TIME')
redis.call('DEL', KEYS[1])
redis.call(ARGV[3], ARGV[1], ARGV[2])
return 1`,
  },
  /**
   * Guarantees: the flag is gone and every process hears of it. KEYS: loaded. ARGV: channel,
   * message, publish command.
   */
  clear: {
    numberOfKeys: 1,
    lua: `
redis.call('DEL', KEYS[1])
redis.call(ARGV[3], ARGV[1], ARGV[2])
return 1`,
  },
  /**
   * Guarantees: 1 if ARGV[1] holds the lock on the server that runs it. Run after a WAIT in the
   * same pipeline, it proves that the master serving the lock now has it (a client that resends
   * the rest of a pipeline after a failover could otherwise count another server's acks for a
   * lock that died with the old master). KEYS: lock. ARGV: token.
   */
  owns: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0`,
  },
  /**
   * Guarantees: the flag's PTTL if it holds the group's generation, else -2 (not loaded).
   * KEYS: loaded, generation.
   */
  flag: {
    numberOfKeys: 2,
    lua: `
if redis.call('GET', KEYS[1]) == (redis.call('GET', KEYS[2]) or '1') then
  return redis.call('PTTL', KEYS[1])
end
return -2`,
  },
  /**
   * Guarantees: one group's generation moves on, so every flag of the group written before reads
   * as not loaded (they expire with their TTL); with a publish command (sharded notices), the
   * group's subscribers hear it in the same step. No TTL: it must outlive every flag. KEYS:
   * generation. ARGV: channel, message, publish command ('' = none). Returns the new generation.
   */
  clearGroup: {
    numberOfKeys: 1,
    lua: `
local gen = string.format('%d', tonumber(redis.call('GET', KEYS[1]) or '1') + 1)
redis.call('SET', KEYS[1], gen)
if ARGV[3] ~= '' then redis.call(ARGV[3], ARGV[1], ARGV[2]) end
return gen`,
  },
  /**
   * Guarantees: the registry of load names holds ARGV[1] afterwards, once (a read-check-write in
   * one step, so concurrent registrations lose none). The registry is one string, each encoded
   * name followed by a newline (an encoded name holds none); no TTL. KEYS: registry. ARGV: name.
   */
  registerLoad: {
    numberOfKeys: 1,
    lua: `
local names = redis.call('GET', KEYS[1]) or '\\n'
if not string.find(names, '\\n' .. ARGV[1] .. '\\n', 1, true) then
  redis.call('SET', KEYS[1], names .. ARGV[1] .. '\\n')
end
return 1`,
  },
  /** The registry of load names, as `registerLoad` keeps it ('' when empty). KEYS: registry. */
  loadNames: {
    numberOfKeys: 1,
    lua: `return redis.call('GET', KEYS[1]) or ''`,
  },
} as const;

export type ScriptName = keyof typeof SOURCES;

export const REDIS_SCRIPTS = Object.fromEntries(
  Object.entries(SOURCES).map(([name, { numberOfKeys, lua }]) => [
    name,
    { numberOfKeys, lua, sha: createHash('sha1').update(lua).digest('hex') },
  ]),
) as Record<ScriptName, LuaScript>;

/** How long a user's fencing counter outlives its last acquire: 24 h. */
export const FENCE_RETENTION_MS = 86_400_000;

/**
 * How long a finish's marker (its token and result) lives at least: 30 s, or longer when
 * `outageGraceMs` + two `commandTimeoutMs` (how long the flow retries a finish) is longer.
 */
export const FINISH_MARKER_MS = 30_000;
