/**
 * Lua scripts of the Redis engine. Each runs atomically in Redis, which is what makes offsets,
 * history and fan-out agree on every node: the offset is assigned, the message stored and the
 * event published in one step, so every node receives events in offset order. Times come from
 * Redis (`TIME`), the one clock all nodes share.
 */

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Publish with history. KEYS: stream, meta, channel. ARGV: payload, size, ttlMs, metaTtlMs, newEpoch.
 * A topic without meta (new, or lost with Redis's data) starts a new epoch and an empty stream.
 * Stream entry ids are `0-<offset>`, so XRANGE reads by offset; MAXLEN keeps the last `size`.
 */
export const PUBLISH = `${NOW}
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[5]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'e', epoch)
end
local offset = redis.call('HINCRBY', KEYS[2], 'o', 1)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '0-' .. offset, 'x', now + tonumber(ARGV[3]), 'd', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], math.max(tonumber(ARGV[4]), tonumber(ARGV[3])))
redis.call('PUBLISH', KEYS[3], epoch .. '\\n' .. offset .. '\\n' .. ARGV[1])
return {epoch, offset}`;

/**
 * Read history. KEYS: stream, meta. ARGV: newEpoch, sinceEpoch ('' for none), sinceOffset, limit, metaTtlMs.
 * Returns {epoch, offset, now, mode, entries}: mode 'since' with the entries after sinceOffset when
 * the epoch matches and the offset is not ahead; else mode 'last' with the newest `limit` entries.
 * Expired entries are filtered by the caller with `now`.
 */
export const READ = `${NOW}
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'e', epoch, 'o', 0)
end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local offset = tonumber(redis.call('HGET', KEYS[2], 'o') or '0')
if ARGV[2] == epoch then
  local since = tonumber(ARGV[3])
  if since <= offset then
    local entries = {}
    if since < offset then entries = redis.call('XRANGE', KEYS[1], '0-' .. (since + 1), '+') end
    return {epoch, offset, now, 'since', entries}
  end
end
local entries = {}
local limit = tonumber(ARGV[4])
if limit > 0 then entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', limit) end
return {epoch, offset, now, 'last', entries}`;

/**
 * Presence add. KEYS: clients hash, member counts hash, member info hash, node entries set.
 * ARGV: clientId, memberId, member (JSON), node entry. Returns 1 when the member was not present.
 */
export const PRESENCE_ADD = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('SADD', KEYS[4], ARGV[4])
if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) == 1 then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
  return 1
end
return 0`;

/**
 * Presence remove. KEYS as for add. ARGV: clientId, node entry. Returns the member (JSON) when it
 * was the member's last connection on the topic, else false. Idempotent: a second removal of the
 * same connection (two nodes cleaning up one dead node) finds nothing.
 */
export const PRESENCE_REMOVE = `
local member = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[2])
if not member then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HINCRBY', KEYS[2], member, -1) <= 0 then
  redis.call('HDEL', KEYS[2], member)
  local info = redis.call('HGET', KEYS[3], member)
  redis.call('HDEL', KEYS[3], member)
  return info or false
end
return false`;

/** Extends a running call's lease. KEYS: record. ARGV: the running record, leaseMs. Only while it is still running. */
export const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/**
 * Node heartbeat. KEYS: nodes zset. ARGV: nodeId, ttlMs. Returns {added, lapsed}: `added` is 1 when
 * this node was not registered (first beat, or other nodes declared it dead and removed its
 * entries), and the ids of nodes whose heartbeat lapsed.
 */
export const HEARTBEAT = `${NOW}
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return {added, redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)}`;

/**
 * Adds a grant to an index set (docs/protocol.md §2.9, "Revocation"). KEYS: the set. ARGV: grant,
 * ttlMs ('' for none). The set lives as long as its longest-lived entry: no TTL once a grant
 * without one is in it, else the longest TTL asked for.
 */
export const GRANT_INDEX = `
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SADD', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  redis.call('PERSIST', KEYS[1])
else
  local ttl = tonumber(ARGV[2])
  local pttl = redis.call('PTTL', KEYS[1])
  if existed == 0 or (pttl >= 0 and pttl < ttl) then redis.call('PEXPIRE', KEYS[1], ttl) end
end
return 1`;

type Arg = string | Buffer | number;
/** The scripts as commands on a client (EVALSHA, with ioredis loading a script Redis lost). */
export interface Scripts {
  sbPublish(...args: Arg[]): Promise<[string, number]>;
  sbReadBuffer(...args: Arg[]): Promise<unknown>;
  sbPresenceAdd(...args: Arg[]): Promise<number>;
  sbPresenceRemove(...args: Arg[]): Promise<string | null>;
  sbHeartbeat(...args: Arg[]): Promise<[number, string[]]>;
  sbRenew(...args: Arg[]): Promise<number>;
  sbGrantIndex(...args: Arg[]): Promise<number>;
}

/** Defines the scripts on `redis` (ioredis `defineCommand`: sent once, then called by hash). */
export function defineScripts(redis: import('ioredis').Redis): Scripts {
  const define = (name: string, numberOfKeys: number, lua: string) => redis.defineCommand(name, { numberOfKeys, lua });
  define('sbPublish', 3, PUBLISH);
  define('sbRead', 2, READ);
  define('sbPresenceAdd', 4, PRESENCE_ADD);
  define('sbPresenceRemove', 4, PRESENCE_REMOVE);
  define('sbHeartbeat', 1, HEARTBEAT);
  define('sbRenew', 1, RENEW);
  define('sbGrantIndex', 1, GRANT_INDEX);
  return redis as unknown as Scripts;
}
