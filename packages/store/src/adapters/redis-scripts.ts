/**
 * The Redis adapter's server-side scripts. Every key a script touches carries the namespace's hash tag,
 * so it runs atomically on one shard of a cluster.
 *
 * Redis's Lua has no SHA-256, so the ledger's chain hash is computed by the client for the head it
 * expects; the commit script refuses when the head has moved (another writer got there first) and the
 * client recomputes and tries again.
 */

/**
 * KEYS: head, paths (sorted set), ledger (stream), commit marker, then one record key per precondition,
 * put and delete, in that order.
 * ARGV: expected head seq, expected head hash, new hash, digest, body, #preconditions, #puts, #deletes,
 * notification channel, namespace, genesis hash, then (path, version) per precondition,
 * (path, version, value) per put, path per delete.
 * Returns {'ok', seq} | {'done', seq} (this commit id already applied) | {'head', seq, hash} |
 * {'conflict', path, expected, actual}.
 */
export const COMMIT = `
if redis.call('EXISTS', KEYS[4]) == 1 then return {'done', redis.call('GET', KEYS[4])} end
local head = redis.call('HMGET', KEYS[1], 'seq', 'hash')
local seq = tonumber(head[1]) or 0
local hash = head[2] or ARGV[11]
if seq ~= tonumber(ARGV[1]) or hash ~= ARGV[2] then return {'head', tostring(seq), hash} end
local npre, nputs, ndel = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local k, a = 5, 12
for i = 1, npre do
  local current = redis.call('GET', KEYS[k])
  local version = 0
  if current then version = tonumber(string.match(current, '^(%d+):')) end
  if version ~= tonumber(ARGV[a + 1]) then return {'conflict', ARGV[a], ARGV[a + 1], tostring(version)} end
  k = k + 1
  a = a + 2
end
-- perf: records are written with MSET and indexed with one ZADD per 500, not one call each.
local sets, members = {}, {}
for i = 1, nputs do
  sets[#sets + 1] = KEYS[k]
  sets[#sets + 1] = ARGV[a + 1] .. ':' .. ARGV[a + 2]
  members[#members + 1] = 0
  members[#members + 1] = ARGV[a]
  if #sets >= 1000 then
    redis.call('MSET', unpack(sets))
    redis.call('ZADD', KEYS[2], unpack(members))
    sets, members = {}, {}
  end
  k = k + 1
  a = a + 3
end
if #sets > 0 then
  redis.call('MSET', unpack(sets))
  redis.call('ZADD', KEYS[2], unpack(members))
end
local gone, removed = {}, {}
for i = 1, ndel do
  gone[#gone + 1] = KEYS[k]
  removed[#removed + 1] = ARGV[a]
  if #gone >= 500 then
    redis.call('DEL', unpack(gone))
    redis.call('ZREM', KEYS[2], unpack(removed))
    gone, removed = {}, {}
  end
  k = k + 1
  a = a + 1
end
if #gone > 0 then
  redis.call('DEL', unpack(gone))
  redis.call('ZREM', KEYS[2], unpack(removed))
end
local next = seq + 1
redis.call('XADD', KEYS[3], '0-' .. next, 'p', hash, 'h', ARGV[3], 'd', ARGV[4], 'b', ARGV[5])
redis.call('HSET', KEYS[1], 'seq', next, 'hash', ARGV[3])
redis.call('SET', KEYS[4], next, 'EX', 3600)
redis.call('PUBLISH', ARGV[9], ARGV[10] .. '\\n' .. next)
return {'ok', tostring(next)}
`;

/**
 * KEYS: head, ledger. ARGV: the last seq to remove.
 * Removes events up to that seq and records the last removed one as the checkpoint. Returns its seq, or 0.
 */
export const PRUNE = `
local head = redis.call('HMGET', KEYS[1], 'seq', 'cseq')
local last = math.min(tonumber(ARGV[1]), tonumber(head[1]) or 0)
if last <= (tonumber(head[2]) or 0) then return 0 end
local entry = redis.call('XRANGE', KEYS[2], '0-' .. last, '0-' .. last)
if #entry == 0 then return 0 end
local fields = entry[1][2]
local hash
for i = 1, #fields, 2 do if fields[i] == 'h' then hash = fields[i + 1] end end
redis.call('XTRIM', KEYS[2], 'MINID', '0-' .. (last + 1))
redis.call('HSET', KEYS[1], 'cseq', last, 'chash', hash)
return last
`;

/**
 * KEYS: counters (hash), counter paths (sorted set), call marker. ARGV: (path, delta) per entry.
 * Adds each delta with HINCRBY and indexes the path; a call whose marker exists (a re-send after a lost
 * reply) does nothing. Returns 1 if applied, 0 if it had been.
 */
export const ADD_COUNTS = `
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local members = {}
for a = 1, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[a], ARGV[a + 1])
  members[#members + 1] = 0
  members[#members + 1] = ARGV[a]
  if #members >= 1000 then
    redis.call('ZADD', KEYS[2], unpack(members))
    members = {}
  end
end
if #members > 0 then redis.call('ZADD', KEYS[2], unpack(members)) end
redis.call('SET', KEYS[3], 1, 'EX', 3600)
return 1
`;
