-- dlq-put: upserts a tenant's DLQ entry for a job and moves it to its (new) place in both indexes.
--
-- KEYS[1]  entry          hash: entry = entry JSON, member = its index member, reason = its reasonCode
-- KEYS[2]  index          zset, every score 0, members "<createdAt 16 digits>:<jobId>", newest last
-- KEYS[3]  reason index   zset, every score 0, members "<reasonCode>\0<index member>": one per tenant, so a
--                         reason filter is a lex range and the old reason's member is in a known key
-- ARGV[1]  jobId
-- ARGV[2]  createdAt in ms, or '' to use the store clock (TIME)
-- ARGV[3]  entry JSON without createdAt: an object with at least one field
-- ARGV[4]  reasonCode (printable text, so it never contains \0)
-- Returns the stored entry JSON.
--
-- The entry JSON is spliced, not cjson-encoded, so the caller's data is stored byte for byte.

local current = redis.call('HMGET', KEYS[1], 'reason', 'member')
local oldReason, oldMember = current[1], current[2]

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
  redis.call('ZREM', KEYS[3], oldReason .. '\0' .. oldMember)
end
redis.call('HSET', KEYS[1], 'entry', entry, 'member', member, 'reason', ARGV[4])
redis.call('ZADD', KEYS[2], 0, member)
redis.call('ZADD', KEYS[3], 0, ARGV[4] .. '\0' .. member)
return entry
