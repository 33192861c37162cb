-- artifact-put: stores a new artifact, its chunks, its pointer reference and its listing entry in one step
-- (ArtifactStore.put). Every key gets the artifact's retention TTL.
--
-- KEYS[1]   t:<tenant>:art:<id>:meta     hash: tenant, content_type, size, sha256, retention, labels (JSON),
--                                        created_at, expires_at, chunks (0 = content inline in field data),
--                                        data (inline content only)
-- KEYS[2]   artref:<id>                  string: tenant (system key: resolves the tenant of a pointer)
-- KEYS[3]   t:<tenant>:art:index         zset: member id, score created_at (listing, newest first); its TTL
--                                        is the latest expiry of any artifact it lists
-- KEYS[4]   t:<tenant>:art:expiry        zset: member id, score expires_at (the same members as the index):
--                                        which index entries are stale, whatever their retention class;
--                                        same TTL as the index
-- KEYS[5..] t:<tenant>:art:<id>:chunk:<n>  string per chunk, n = 0.. (only when chunked)
-- ARGV[1]   id
-- ARGV[2]   tenant
-- ARGV[3]   content type
-- ARGV[4]   size in bytes
-- ARGV[5]   lowercase hex sha256 of the whole content
-- ARGV[6]   retention class (short | standard | audit)
-- ARGV[7]   retention ms (> 0)
-- ARGV[8]   labels, JSON object text (stored verbatim)
-- ARGV[9]   longest retention ms of any class: index entries older than that are certainly expired
-- ARGV[10]  chunk count; 0 = inline
-- ARGV[11]  the most expired entries to prune from the index and expiry zsets in this call
-- ARGV[12..] content: the inline bytes (one value) or one value per chunk key, in order (binary-safe)
--
-- Returns {created_at, expires_at} (store-clock ms).
-- Errors: CORDUM already_exists {id, message} if the id is taken (ids are fresh UUIDv7s, so never in
-- practice); checked before any write.
--
-- Pruning: an artifact's keys expire by themselves, its index entry cannot. Each put removes up to ARGV[11]
-- entries whose expires_at has passed (expires_at < now, Redis's own rule for the artifact's keys), so
-- stale entries of short-lived artifacts do not pile up in front of live ones until the longest retention
-- is over. Entries older than the longest retention go too: they are certainly expired, and entries
-- written before the expiry zset existed have no expiry entry to find them by.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + tonumber(ARGV[7])
local chunks = tonumber(ARGV[10])

if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('CORDUM already_exists ' .. cjson.encode({
    id = ARGV[1],
    message = 'artifact ' .. ARGV[1] .. ' already exists',
  }))
end

local meta = {
  'tenant', ARGV[2],
  'content_type', ARGV[3],
  'size', ARGV[4],
  'sha256', ARGV[5],
  'retention', ARGV[6],
  'labels', ARGV[8],
  'created_at', string.format('%d', now),
  'expires_at', string.format('%d', expires),
  'chunks', ARGV[10],
}
if chunks == 0 then
  meta[#meta + 1] = 'data'
  meta[#meta + 1] = ARGV[12]
end
redis.call('HSET', KEYS[1], unpack(meta))
redis.call('PEXPIREAT', KEYS[1], expires)

for n = 1, chunks do
  redis.call('SET', KEYS[4 + n], ARGV[11 + n], 'PXAT', string.format('%d', expires))
end

redis.call('SET', KEYS[2], ARGV[2], 'PXAT', string.format('%d', expires))

local stale = redis.call('ZRANGE', KEYS[4], '-inf', '(' .. string.format('%d', now), 'BYSCORE',
  'LIMIT', 0, tonumber(ARGV[11]))
if #stale > 0 then
  redis.call('ZREM', KEYS[3], unpack(stale))
  redis.call('ZREM', KEYS[4], unpack(stale))
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. string.format('%d', now - tonumber(ARGV[9])))

redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('ZADD', KEYS[4], expires, ARGV[1])
-- Each zset lives as long as the longest-lived artifact it lists (checked one by one: the expiry zset may
-- be younger than the index).
for n = 3, 4 do
  local ttl = redis.call('PTTL', KEYS[n])
  if ttl < 0 or now + ttl < expires then
    redis.call('PEXPIREAT', KEYS[n], expires)
  end
end

return { now, expires }
