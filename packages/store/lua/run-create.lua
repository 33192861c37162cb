-- run-create: creates a `pending` run together with its idempotency key and its concurrency slot, in one
-- step: answers the existing run for a known idempotency key, or limit_reached when the tenant has no
-- free slot, having written nothing.
--
-- KEYS[1]  t:<tenant>:run:<id>               record hash (see redis/run-store.ts)
-- KEYS[2]  t:<tenant>:runs:slots             set of the tenant's non-terminal run ids (the slots)
-- KEYS[3]  t:<tenant>:runs:all               lex index, members "<createdAt %015d>|<id>"
-- KEYS[4]  t:<tenant>:runs:status:pending    lex index of the initial status (same members)
-- KEYS[5]  t:<tenant>:runs:wf:<workflowId>   lex index of the workflow (same members)
-- KEYS[6]  runs:due                          global, members "<tenant>|<id>", score = due ms
-- KEYS[7]  runs:active                       global lex index, members "<updatedAt %015d>|<tenant>|<id>"
-- KEYS[8]  t:<tenant>:run-timeline:<id>      timeline zset (score = seq)
-- KEYS[9]  t:<tenant>:run-tlkeys:<id>        timeline entry key -> seq
-- KEYS[10] t:<tenant>:run-idem:<key>         idempotency key -> run id (KEYS[1] again when there is no key)
-- KEYS[11] t:<tenant>:run:<holder>           record of the run the caller saw holding the key (else KEYS[1])
--
-- ARGV[1] id            ARGV[2] tenant         ARGV[3] workflowId     ARGV[4] workflowVersion
-- ARGV[5] labels JSON   ARGV[6] base document JSON (model/run-doc.ts)    ARGV[7] idempotency key or ''
-- ARGV[8] key TTL ms    ARGV[9] the holder id the caller saw, or ''
-- ARGV[10] most non-terminal runs allowed, or '' for no limit
-- ARGV[11] dueAt ms or ''                      ARGV[12] timeline entries kept
-- ARGV[13] n, then n timeline entry pairs: key or '', tail; then the document's parts: 'full', m, then m
--   pairs field, JSON, then 0
--
-- Returns {'created', record pairs} | {'existing', record pairs} | {'limit', active count}
--       | {'retry', holder id} when the key is held by a run other than the one the caller saw (the caller
--         calls again naming it). Fails with "CORDUM already_exists {id, message}".

-- @include run-common

local id, tenant = ARGV[1], ARGV[2]
local hasKey = ARGV[7] ~= ''

if hasKey then
  local holder = redis.call('GET', KEYS[10])
  if holder then
    if holder ~= ARGV[9] then
      return { 'retry', holder }
    end
    if redis.call('EXISTS', KEYS[11]) == 1 then
      return { 'existing', redis.call('HGETALL', KEYS[11]) }
    end
    -- The key names a run that is gone: take the key over.
  end
end

if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('CORDUM already_exists ' ..
    cjson.encode({ id = id, message = 'run ' .. id .. ' already exists in tenant ' .. tenant }))
end

if ARGV[10] ~= '' then
  local active = redis.call('SCARD', KEYS[2])
  if active >= tonumber(ARGV[10]) then
    return { 'limit', active }
  end
end

local now = storeNow()
local nowText = fmt(now)
redis.call('HSET', KEYS[1], 'id', id, 'tenant', tenant, 'workflowId', ARGV[3], 'workflowVersion', ARGV[4],
  'status', 'pending', 'terminal', '0', 'version', '1', 'createdAt', nowText, 'updatedAt', nowText,
  'labels', ARGV[5], 'tlSeq', '0', 'inSeq', '0')
writeDocParts(KEYS[1], ARGV[6], 'full', 15 + 2 * tonumber(ARGV[13]))
if hasKey then
  redis.call('HSET', KEYS[1], 'idempotencyKey', ARGV[7])
  redis.call('SET', KEYS[10], id, 'PX', ARGV[8])
end
if ARGV[11] ~= '' then
  redis.call('HSET', KEYS[1], 'dueAt', ARGV[11])
  redis.call('ZADD', KEYS[6], ARGV[11], tenant .. '|' .. id)
end

redis.call('SADD', KEYS[2], id)
local member = pad(now) .. '|' .. id
redis.call('ZADD', KEYS[3], 0, member)
redis.call('ZADD', KEYS[4], 0, member)
redis.call('ZADD', KEYS[5], 0, member)
redis.call('ZADD', KEYS[7], 0, pad(now) .. '|' .. tenant .. '|' .. id)

appendTimeline(KEYS[1], KEYS[8], KEYS[9], nowText, tonumber(ARGV[12]), 14, tonumber(ARGV[13]))

return { 'created', redis.call('HGETALL', KEYS[1]) }
