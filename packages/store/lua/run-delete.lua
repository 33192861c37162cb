-- run-delete: removes a run with everything that belongs to it and frees its concurrency slot.
--
-- KEYS[1]  t:<tenant>:run:<id>            KEYS[2] t:<tenant>:runs:slots
-- KEYS[3]  t:<tenant>:runs:all            KEYS[4] t:<tenant>:runs:wf:<workflowId>
-- KEYS[5]  runs:due                       KEYS[6] runs:active (global lex index)
-- KEYS[7]  t:<tenant>:run-timeline:<id>   KEYS[8] t:<tenant>:run-tlkeys:<id>
-- KEYS[9]  t:<tenant>:run-inbox:<id>      KEYS[10] t:<tenant>:run-inkeys:<id>
-- KEYS[11] t:<tenant>:run-idem:<key> of the run's idempotency key (KEYS[1] again when it has none)
-- KEYS[11 + i] t:<tenant>:runs:status:<status_i> for every status named in ARGV
--
-- ARGV[1] id   ARGV[2] tenant
-- ARGV[3] createdAt, ARGV[4] workflowId, ARGV[5] idempotency key ('' for none) as the caller read them:
--   the keys above were derived from them, so they must still describe the stored run
-- ARGV[6] s, then s status names (matching KEYS[12..11+s])
--
-- Returns 1 when deleted, 0 when there was no such run, -1 when the run changed identity since the caller
-- read it (deleted and created again: read again and retry).

-- @include run-common

local id, tenant = ARGV[1], ARGV[2]
local cur = redis.call('HMGET', KEYS[1], 'status', 'createdAt', 'updatedAt', 'workflowId', 'idempotencyKey')
if not cur[1] then
  return 0
end
if cur[2] ~= ARGV[3] or cur[4] ~= ARGV[4] or (cur[5] or '') ~= ARGV[5] then
  return -1
end

local member = pad(tonumber(cur[2])) .. '|' .. id
redis.call('ZREM', KEYS[3], member)
redis.call('ZREM', KEYS[4], member)
for i = 1, tonumber(ARGV[6]) do
  if ARGV[6 + i] == cur[1] then
    redis.call('ZREM', KEYS[11 + i], member)
  end
end
redis.call('ZREM', KEYS[5], tenant .. '|' .. id)
redis.call('ZREM', KEYS[6], pad(tonumber(cur[3])) .. '|' .. tenant .. '|' .. id)
redis.call('SREM', KEYS[2], id)
if ARGV[5] ~= '' and redis.call('GET', KEYS[11]) == id then
  redis.call('DEL', KEYS[11])
end
redis.call('DEL', KEYS[1], KEYS[7], KEYS[8], KEYS[9], KEYS[10])
return 1
