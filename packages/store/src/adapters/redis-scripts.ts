/**
 * The Redis adapter's server-side scripts. Every key a script touches carries the namespace's hash tag,
 * so it runs atomically on one shard of a cluster.
 *
 * Redis's Lua has no SHA-256, so the ledger's chain hash is computed by the client for the head it
 * expects; the commit script refuses when the head has moved (another writer got there first) and the
 * client recomputes and tries again.
 */

/**
 * KEYS: head, paths (sorted set), ledger (stream), records (hash).
 * ARGV: expected head seq, expected head hash, new hash, digest, body, notification channel, namespace,
 * genesis hash, the commit's records packed into one string (see `packCommit`), the namespace's sharded
 * notification channel (in the namespace's slot), the commit's id. The packed records are the counts of
 * preconditions, puts and deletes, then (path, version) per precondition, (path, "version:value") per put
 * (the record as stored), path per delete, each field a 4-byte big-endian length and its bytes.
 * perf: one packed argument instead of a key and three arguments per record, which the client spent
 * most of a bulk load encoding.
 * Returns {'ok', seq} | {'done', seq} (this commit id already applied) | {'head', seq, hash} |
 * {'conflict', path, expected, actual}.
 */
export const COMMIT = `
local head = redis.call('HMGET', KEYS[1], 'seq', 'hash')
local seq = tonumber(head[1]) or 0
local hash = head[2] or ARGV[8]
local expected = tonumber(ARGV[1])
if seq ~= expected or hash ~= ARGV[2] then
  -- A re-send of a commit already applied: the entry after the head it expected carries its id.
  if seq > expected then
    local entry = redis.call('XRANGE', KEYS[3], '0-' .. (expected + 1), '0-' .. (expected + 1))[1]
    if entry then
      local fields = entry[2]
      for i = 1, #fields, 2 do
        if fields[i] == 'i' and fields[i + 1] == ARGV[11] then return {'done', tostring(expected + 1)} end
      end
    end
  end
  return {'head', tostring(seq), hash}
end
local packed, at = ARGV[9], 1
local function field()
  local n
  n, at = struct.unpack('>I4', packed, at)
  local text = string.sub(packed, at, at + n - 1)
  at = at + n
  return text
end
local npre, nputs, ndel = tonumber(field()), tonumber(field()), tonumber(field())
for i = 1, npre do
  local path, wanted = field(), tonumber(field())
  local current = redis.call('HGET', KEYS[4], path)
  local version = 0
  if current then version = tonumber(string.match(current, '^(%d+):')) end
  if version ~= wanted then return {'conflict', path, tostring(wanted), tostring(version)} end
end
-- perf: records are written with one HSET and indexed with one ZADD per 500 (deleted with one HDEL and
-- ZREM), not one call each; the loops count entries themselves (# is a search in Lua 5.1).
local sets, members, count = {}, {}, 0
for i = 1, nputs do
  local path = field()
  count = count + 2
  sets[count - 1] = path
  sets[count] = field()
  members[count - 1] = 0
  members[count] = path
  if count >= 1000 or i == nputs then
    redis.call('HSET', KEYS[4], unpack(sets, 1, count))
    redis.call('ZADD', KEYS[2], unpack(members, 1, count))
    count = 0
  end
end
local gone = {}
for i = 1, ndel do
  count = count + 1
  gone[count] = field()
  if count >= 500 or i == ndel then
    redis.call('HDEL', KEYS[4], unpack(gone, 1, count))
    redis.call('ZREM', KEYS[2], unpack(gone, 1, count))
    count = 0
  end
end
local next = seq + 1
redis.call('XADD', KEYS[3], '0-' .. next, 'p', hash, 'h', ARGV[3], 'd', ARGV[4], 'b', ARGV[5], 'i', ARGV[11])
redis.call('HSET', KEYS[1], 'seq', next, 'hash', ARGV[3])
-- perf: every commit is announced on the namespace's shard only (SPUBLISH reaches the nodes of one shard,
-- PUBLISH every node of a cluster); its first commit, which tells that the namespace exists, everywhere.
local note = ARGV[7] .. '\\n' .. next
redis.call('SPUBLISH', ARGV[10], note)
if next == 1 then redis.call('PUBLISH', ARGV[6], note) end
return {'ok', tostring(next)}
`;

/**
 * Packs a commit's preconditions, puts and deletes into the one argument `COMMIT` reads. A put's record
 * is packed as stored ("version:value"), so the script writes it as it is.
 */
export function packCommit(
  preconditions: readonly { path: string; version: number }[],
  puts: readonly { path: string; version: number; value: Uint8Array }[],
  deletes: readonly string[],
): Buffer {
  // Every field is a string, but for a put's value, which follows its "version:" in the same field. A
  // count or version takes at most 16 digits (a safe integer), 17 with its colon.
  let size = 3 * (4 + 16);
  for (const p of preconditions) size += 8 + Buffer.byteLength(p.path) + 16;
  for (const w of puts) size += 8 + Buffer.byteLength(w.path) + 17 + w.value.byteLength;
  for (const path of deletes) size += 4 + Buffer.byteLength(path);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  const field = (text: string, value?: Uint8Array) => {
    let n = out.write(text, at + 4);
    if (value !== undefined) {
      out.set(value, at + 4 + n);
      n += value.byteLength;
    }
    out.writeUInt32BE(n, at);
    at += 4 + n;
  };
  field(String(preconditions.length));
  field(String(puts.length));
  field(String(deletes.length));
  for (const p of preconditions) {
    field(p.path);
    field(String(p.version));
  }
  for (const w of puts) {
    field(w.path);
    field(`${w.version}:`, w.value);
  }
  for (const path of deletes) field(path);
  return out.subarray(0, at);
}

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
