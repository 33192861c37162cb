-- workflow-put: stores the next version of a workflow definition and makes it the latest, compare-and-set
-- on the latest version.
--
-- KEYS[1] t:<tenant>:wf:<id>           head hash: last (highest version ever assigned, kept after delete),
--                                      current (latest live version; absent after delete)
-- KEYS[2] t:<tenant>:wf-versions:<id>  hash: <n> = definition JSON, <n>:sha = sha256, <n>:at = created ms
-- KEYS[3] t:<tenant>:wfs               zset (scores 0) of live workflow ids: listing in id order (BYLEX)
-- ARGV[1] id   ARGV[2] expected version: '' unconditional, '0' must not exist, n latest must be n
-- ARGV[3] definition JSON (stored as given)   ARGV[4] sha256   ARGV[5] name for messages
--
-- Returns {version, createdAt}. Fails with "CORDUM revision_conflict {current_version, expected_version,
-- message}".

local head = redis.call('HMGET', KEYS[1], 'last', 'current')
local last = tonumber(head[1] or '0')
local current = tonumber(head[2] or '0')

if ARGV[2] ~= '' then
  local expected = tonumber(ARGV[2])
  if expected ~= current then
    local message = string.format('workflow %s is at version %d (0 = absent), expected %d: re-read it and retry',
      ARGV[5], current, expected)
    return redis.error_reply('CORDUM revision_conflict ' .. cjson.encode({
      current_version = current, expected_version = expected, message = message }))
  end
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local version = string.format('%d', last + 1)
redis.call('HSET', KEYS[2], version, ARGV[3], version .. ':sha', ARGV[4], version .. ':at', string.format('%d', now))
redis.call('HSET', KEYS[1], 'last', version, 'current', version)
redis.call('ZADD', KEYS[3], 0, ARGV[1])
return { last + 1, now }
