-- dlq-put: upserts a tenant's DLQ entry for a job and moves it to its (new) place in the indexes.
--
-- KEYS[1]  entry          hash: entry = entry JSON, member = its index member, reason = its reasonCode
-- KEYS[2]  index          zset, every score 0, ordered by member "<createdAt 16 digits>:<jobId>": all entries
-- KEYS[3]  reason index   zset like KEYS[2] holding only entries with the new reasonCode
-- KEYS[4]  old reason index: the reason index the caller saw the current entry in (= KEYS[3] if none)
-- ARGV[1]  jobId
-- ARGV[2]  createdAt in ms, or '' to use the store clock (TIME)
-- ARGV[3]  entry JSON without createdAt: an object with at least one field
-- ARGV[4]  new reasonCode
-- ARGV[5]  reasonCode the caller saw on the current entry, '' if it saw none
-- Returns the stored entry JSON, or nil when the entry's reasonCode is no longer ARGV[5]. The old reason
-- index must be declared in KEYS up front, so the caller reads it first and retries on nil.
--
-- The entry JSON is spliced, not cjson-encoded, so the caller's data is stored byte for byte.

local current = redis.call('HMGET', KEYS[1], 'reason', 'member')
local oldReason = current[1]
local oldMember = current[2]
if (oldReason or '') ~= ARGV[5] then
  return false
end

local createdAt
if ARGV[2] == '' then
  local time = redis.call('TIME')
  createdAt = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
else
  createdAt = tonumber(ARGV[2])
end
local member = string.format('%016d', createdAt) .. ':' .. ARGV[1]
local entry = '{"createdAt":' .. string.format('%d', createdAt) .. ',' .. string.sub(ARGV[3], 2)

if oldMember then
  redis.call('ZREM', KEYS[2], oldMember)
  redis.call('ZREM', KEYS[4], oldMember)
end
redis.call('HSET', KEYS[1], 'entry', entry, 'member', member, 'reason', ARGV[4])
redis.call('ZADD', KEYS[2], 0, member)
redis.call('ZADD', KEYS[3], 0, member)
return entry
