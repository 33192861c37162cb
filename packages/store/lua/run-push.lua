-- run-push: queues an event in a run's inbox and puts the run on the due index (at the push time, unless
-- it is due earlier). Leaves the run's version alone, so a push never makes an engine's CAS fail.
--
-- KEYS[1] t:<tenant>:run:<id>         record hash (`inSeq` counts pushes)
-- KEYS[2] t:<tenant>:run-inbox:<id>   inbox zset, score = seq, member '{"seq":<n>,"at":<ms>,' .. tail
-- KEYS[3] t:<tenant>:run-inkeys:<id>  event key -> seq, for the run's lifetime
-- KEYS[4] runs:due                    global, members "<tenant>|<id>", score = due ms
--
-- ARGV[1] tenant   ARGV[2] id   ARGV[3] event key or ''   ARGV[4] tail (model/run.ts checkPushEvent)
--
-- Returns {'queued', seq} | {'duplicate', seq} | {'terminal', status} | {'not_found'}.

-- @include run-common

local cur = redis.call('HMGET', KEYS[1], 'status', 'terminal')
if not cur[1] then
  return { 'not_found' }
end
if cur[2] == '1' then
  return { 'terminal', cur[1] }
end
local key = ARGV[3]
if key ~= '' then
  local known = redis.call('HGET', KEYS[3], key)
  if known then
    return { 'duplicate', tonumber(known) }
  end
end

local seq = redis.call('HINCRBY', KEYS[1], 'inSeq', 1)
local now = storeNow()
redis.call('ZADD', KEYS[2], fmt(seq), '{"seq":' .. fmt(seq) .. ',"at":' .. fmt(now) .. ',' .. ARGV[4])
if key ~= '' then
  redis.call('HSET', KEYS[3], key, fmt(seq))
end
redis.call('ZADD', KEYS[4], 'LT', fmt(now), ARGV[1] .. '|' .. ARGV[2])
return { 'queued', seq }
