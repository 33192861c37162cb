-- job-create: creates a job record with its creation event and every index entry, in one step.
--
-- KEYS[1]  t:<tenant>:job:<id>            record hash (flat fields; l:<label>, d:<data key> = JSON text)
-- KEYS[2]  t:<tenant>:job-events:<id>     event list (JSON, oldest first)
-- KEYS[3]  jobref:<id>                    id -> tenant; its existence makes ids unique across tenants
-- KEYS[4]  t:<tenant>:jobs:all            lex index, members "<createdAt %015d>|<id>", all scores 0
-- KEYS[5]  t:<tenant>:jobs:state:<STATE>  lex index of the initial state (same members)
-- KEYS[6]  t:<tenant>:jobs:topic:<topic>  lex index of the topic (same members)
-- KEYS[7]  jobs:state:<STATE>             global state index, members "<createdAt %015d>|<tenant>|<id>",
--                                         score = ms the job entered the state
-- KEYS[8]  t:<tenant>:jobs:active         set of the tenant's non-terminal job ids
-- KEYS[9]  jobs:retired                   retention index, members "<STATE>|<createdAt %015d>|<tenant>|<id>|<topic>",
--                                         score = ms at which the record expires
-- KEYS[10] jobs:timer:due                 members "<tenant>|<id>", score = dueAt
-- KEYS[11] jobs:timer:deadline            members "<tenant>|<id>", score = deadlineAt
-- KEYS[12] fence:<token>, optional: create only while it exists (model/fence.ts)
--
-- ARGV[1] id            ARGV[2] tenant        ARGV[3] topic        ARGV[4] initial state
-- ARGV[5] "1" when the initial state is terminal
-- ARGV[6] retention ms  ARGV[7] actor         ARGV[8] reason       ARGV[9] events kept per job
-- ARGV[10] n, then n field/value pairs for the record (traceId, waitReason, dueAt, deadlineAt, l:*, d:*)
--
-- Returns the record as HGETALL pairs. Fails with "CORDUM already_exists {id, message}", or with
-- "CORDUM fence_down {id, message}" when KEYS[12] is given and absent (nothing written).
-- Time is the server's (TIME), in ms.

local id, tenant, topic, state = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local terminal = ARGV[5] == '1'
local retention = tonumber(ARGV[6])

if KEYS[12] and redis.call('EXISTS', KEYS[12]) == 0 then
  return redis.error_reply('CORDUM fence_down ' ..
    cjson.encode({ id = id, message = 'job ' .. id .. ' is fenced on a write that has not happened' }))
end

if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('CORDUM already_exists ' ..
    cjson.encode({ id = id, message = 'job ' .. id .. ' already exists' }))
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nowText = string.format('%d', now)
local created = string.format('%015d', now)

local fields = { 'id', id, 'tenant', tenant, 'topic', topic, 'state', state, 'version', '1', 'attempts', '0',
  'createdAt', nowText, 'updatedAt', nowText }
redis.call('HSET', KEYS[1], unpack(fields))
-- Caller-supplied fields go in chunks: unpack() of a very long list would overflow the Lua C stack.
local n = tonumber(ARGV[10])
local chunk = {}
for i = 1, 2 * n do
  chunk[#chunk + 1] = ARGV[10 + i]
  if #chunk == 400 or i == 2 * n then
    redis.call('HSET', KEYS[1], unpack(chunk))
    chunk = {}
  end
end
redis.call('SET', KEYS[3], tenant)

local member = created .. '|' .. id
redis.call('ZADD', KEYS[4], 0, member)
redis.call('ZADD', KEYS[5], 0, member)
redis.call('ZADD', KEYS[6], 0, member)
redis.call('ZADD', KEYS[7], nowText, created .. '|' .. tenant .. '|' .. id)

-- Numbers are formatted by hand: cjson would print them with 14 significant digits.
local event = '{"at":' .. nowText .. ',"from":null,"to":' .. cjson.encode(state) ..
  ',"actor":' .. cjson.encode(ARGV[7]) .. ',"reason":' .. cjson.encode(ARGV[8]) .. ',"attempt":0,"version":1}'
redis.call('RPUSH', KEYS[2], event)

if terminal then
  -- A rejected intake: kept for the retention period, never active, never on a timer.
  local expireAt = string.format('%d', now + retention)
  redis.call('PEXPIREAT', KEYS[1], expireAt)
  redis.call('PEXPIREAT', KEYS[2], expireAt)
  redis.call('PEXPIREAT', KEYS[3], expireAt)
  redis.call('ZADD', KEYS[9], expireAt, state .. '|' .. created .. '|' .. tenant .. '|' .. id .. '|' .. topic)
else
  redis.call('SADD', KEYS[8], id)
  local timers = redis.call('HMGET', KEYS[1], 'dueAt', 'deadlineAt')
  if timers[1] then redis.call('ZADD', KEYS[10], timers[1], tenant .. '|' .. id) end
  if timers[2] then redis.call('ZADD', KEYS[11], timers[2], tenant .. '|' .. id) end
end

return redis.call('HGETALL', KEYS[1])
