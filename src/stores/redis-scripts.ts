/**
 * Lua run by {@link RedisLoadStore} through ioredis `defineCommand` (EVALSHA, falling back to
 * EVAL). Every script touches only the keys of one user, which share a hash slot.
 */
export const REDIS_SCRIPTS = {
  /**
   * Guarantees: one round trip that reports the flag, or takes the lock only if free (NX, with a
   * lease) and returns a fencing token strictly greater than any earlier one for this user. The
   * counter is seeded from the server clock (µs) when absent, so it keeps increasing after it
   * expires or Redis restarts empty.
   * KEYS: loaded, lock, fence. ARGV: token, leaseMs, fenceRetentionMs, checkFlag ('1'|'0').
   * Returns {2, flag pttl} loaded | {1, fence} acquired | {0, lock pttl} held.
   */
  loadStatusAcquire: {
    numberOfKeys: 3,
    lua: `
if ARGV[4] == '1' then
  local left = redis.call('PTTL', KEYS[1])
  if left ~= -2 then return {2, left} end
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local fence = redis.call('INCR', KEYS[3])
  if fence == 1 then
    local t = redis.call('TIME')
    fence = tonumber(t[1]) * 1000000 + tonumber(t[2])
    redis.call('SET', KEYS[3], string.format('%d', fence))
  end
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
  return {1, fence}
end
return {0, redis.call('PTTL', KEYS[2])}`,
  },
  /** Guarantees: the lease is extended only while ARGV[1] owns the lock. KEYS: lock. ARGV: token, leaseMs. */
  loadStatusExtend: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`,
  },
  /**
   * Guarantees: compare-token-and-delete; waiters are told to retry only when the lock was ours.
   * KEYS: lock. ARGV: token, channel, message.
   */
  loadStatusRelease: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0`,
  },
  /**
   * Guarantees: in one atomic step, sets the flag with its TTL, deletes the lock only if ARGV[1]
   * still owns it, and notifies waiters. KEYS: loaded, lock. ARGV: token, loadedTtlMs, channel,
   * message. Returns 1 if the lock was still ours.
   */
  loadStatusFinish: {
    numberOfKeys: 2,
    lua: `
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
local owned = 0
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  owned = 1
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return owned`,
  },
  /**
   * Guarantees: the lock is deleted only if ARGV[1] owns it, and waiters hear the user is loaded
   * (the flag lives in another store). KEYS: lock. ARGV: token, channel, message.
   */
  loadStatusFinishLock: {
    numberOfKeys: 1,
    lua: `
local owned = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  owned = 1
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return owned`,
  },
  /** Guarantees: the flag is set and waiters are notified in one step. KEYS: loaded. ARGV: ttlMs, channel, message. */
  loadStatusSetLoaded: {
    numberOfKeys: 1,
    lua: `
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1`,
  },
  /** Guarantees: the flag is gone and every process hears of it. KEYS: loaded. ARGV: channel, message. */
  loadStatusClear: {
    numberOfKeys: 1,
    lua: `
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1`,
  },
} as const;

export type ScriptName = keyof typeof REDIS_SCRIPTS;

/** How long a user's fencing counter outlives its last acquire: 24 h. */
export const FENCE_RETENTION_MS = 86_400_000;
