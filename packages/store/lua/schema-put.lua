-- schema-put: registers or replaces a tenant's schema, compare-and-set on its version.
--
-- KEYS[1]  schema  hash: version, createdAt, updatedAt, sha256, schema (JSON text). After a delete only
--                  `version` is left, so versions stay monotonic and are never reused.
-- KEYS[2]  index   zset (scores 0) of the tenant's registered ids, for listing in id order (BYLEX)
-- ARGV[1]  schema id (the member of KEYS[2])
-- ARGV[2]  expected version: '' = unconditional, '0' = must not exist, 'n' = current version must be n
-- ARGV[3]  schema JSON text (stored as given, never decoded here)
-- ARGV[4]  sha256 of the schema's canonical JSON
-- ARGV[5]  the schema's name for messages ("<id> of tenant <tenant>")
-- Returns {version, createdAt, updatedAt}.
-- Errors: CORDUM revision_conflict {current_version, expected_version, message}

local state = redis.call('HMGET', KEYS[1], 'version', 'createdAt', 'schema')
local last = tonumber(state[1] or '0')
local exists = state[3] ~= false -- HMGET gives false for a missing field
local current = 0
if exists then
  current = last
end

if ARGV[2] ~= '' then
  local expected = tonumber(ARGV[2])
  if expected ~= current then
    local message = string.format('schema %s is at version %d (0 = absent), expected %d: re-read it and retry',
      ARGV[5], current, expected)
    return redis.error_reply('CORDUM revision_conflict ' .. cjson.encode({
      current_version = current, expected_version = expected, message = message }))
  end
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local createdAt = now
if exists then
  createdAt = tonumber(state[2])
end
local version = last + 1
redis.call('HSET', KEYS[1], 'version', version, 'createdAt', createdAt, 'updatedAt', now,
  'sha256', ARGV[4], 'schema', ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return { version, createdAt, now }
