-- run-update: the RunStore compare-and-set. Writes only if the run is at the expected version, together
-- with its status indexes, activity and due index entries, timeline entries and inbox ack; a write that
-- makes the run terminal also frees its concurrency slot and drops its inbox. Redis serialises scripts, so
-- of several writers holding the same version exactly one wins.
--
-- KEYS[1]  t:<tenant>:run:<id>            record hash
-- KEYS[2]  t:<tenant>:runs:slots          set of the tenant's non-terminal run ids (the slots)
-- KEYS[3]  runs:due                       global, members "<tenant>|<id>", score = due ms
-- KEYS[4]  runs:active                    global lex index, members "<updatedAt %015d>|<tenant>|<id>"
-- KEYS[5]  t:<tenant>:run-timeline:<id>   KEYS[6] t:<tenant>:run-tlkeys:<id>
-- KEYS[7]  t:<tenant>:run-inbox:<id>      KEYS[8] t:<tenant>:run-inkeys:<id>
-- KEYS[8 + i] t:<tenant>:runs:status:<status_i>  for every status i = 1..s named in ARGV (so the script
--   never builds a key name)
-- KEYS[8 + s + j] fence:<token_j> for every required fence j = 1..r (see ARGV), then optionally
-- KEYS[9 + s + r] fence:<token>: raised (for 60 s, model/fence.ts FENCE_TTL_MS) when the write happens
--
-- ARGV[1] id      ARGV[2] tenant      ARGV[3] expected version
-- ARGV[4] new status or '' (keep)     ARGV[5] '1' when the new status is terminal
-- ARGV[6] base document JSON or '' (keep the document)             ARGV[7] labels JSON or '' (keep)
-- ARGV[8] dueAt: '' keep, '-' clear, else ms        ARGV[9] ack inbox events up to this seq, or ''
-- ARGV[10] timeline entries kept
-- ARGV[11] reply: 'v' answers only version, status and updatedAt (the document is not sent back), else ''
-- ARGV[12] s, then s status names (matching KEYS[9..8+s]); then n, then n timeline pairs: key or '', tail;
--   then r, then r values: the write happens only if each required fence holds its value;
--   then the document's parts (model/run-doc.ts), when ARGV[6] is set: 'full' or 'delta', then m, then m
--   pairs field, JSON; then d, then d part fields to remove. A full write removes every other part field.
--
-- Returns {'updated', record pairs} | {'conflict', record pairs} | {'not_found'} | {'fenced'} (a required
-- fence is down or holds another value: nothing written) | {'full'} (a delta write to a record not stored in
-- parts: nothing written, the caller writes the whole document); with ARGV[11] = 'v' the pairs are only
-- version, status and updatedAt.
-- Fails with "CORDUM invalid_transition {current_status, to, message}" when a terminal status would change.

-- @include run-common

local id, tenant = ARGV[1], ARGV[2]
local brief = ARGV[11] == 'v'

local cur = redis.call('HMGET', KEYS[1], 'status', 'version', 'terminal', 'createdAt', 'updatedAt')
local status = cur[1]
if not status then
  return { 'not_found' }
end
if tonumber(cur[2]) ~= tonumber(ARGV[3]) then
  if brief then
    return { 'conflict', { 'version', cur[2], 'status', status, 'updatedAt', cur[5] } }
  end
  return { 'conflict', redis.call('HGETALL', KEYS[1]) }
end

local n = 13 + tonumber(ARGV[12])
local reqAt = n + 1 + 2 * tonumber(ARGV[n])
local r = tonumber(ARGV[reqAt])
for j = 1, r do
  if redis.call('GET', KEYS[8 + tonumber(ARGV[12]) + j]) ~= ARGV[reqAt + j] then
    return { 'fenced' }
  end
end
local docAt = reqAt + 1 + r
local docMode = ARGV[docAt]
if ARGV[6] ~= '' and docMode == 'delta' and redis.call('HGET', KEYS[1], 'layout') ~= '2' then
  return { 'full' }
end

local to = status
local toTerminal = cur[3] == '1'
if ARGV[4] ~= '' then
  to = ARGV[4]
  toTerminal = ARGV[5] == '1'
end
if cur[3] == '1' and to ~= status then
  local message = 'run ' .. id .. ' is ' .. status .. ', a final status: it cannot become ' .. to
  return redis.error_reply('CORDUM invalid_transition ' ..
    cjson.encode({ current_status = status, to = to, message = message }))
end

local now = storeNow()
local nowText = fmt(now)
local terminalText = '0'
if toTerminal then
  terminalText = '1'
end
local versionText = fmt(tonumber(cur[2]) + 1)
redis.call('HSET', KEYS[1], 'status', to, 'terminal', terminalText, 'version', versionText, 'updatedAt', nowText)
if ARGV[6] ~= '' then
  writeDocParts(KEYS[1], ARGV[6], docMode, docAt + 1)
end
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'labels', ARGV[7])
end
if ARGV[8] == '-' or toTerminal then
  redis.call('HDEL', KEYS[1], 'dueAt')
elseif ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'dueAt', ARGV[8])
end

local s = tonumber(ARGV[12])
if to ~= status then
  local member = pad(tonumber(cur[4])) .. '|' .. id
  for i = 1, s do
    local name = ARGV[12 + i]
    if name == status then
      redis.call('ZREM', KEYS[8 + i], member)
    elseif name == to then
      redis.call('ZADD', KEYS[8 + i], 0, member)
    end
  end
end

redis.call('ZREM', KEYS[4], pad(tonumber(cur[5])) .. '|' .. tenant .. '|' .. id)
local dueMember = tenant .. '|' .. id
if toTerminal then
  redis.call('SREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], dueMember)
  redis.call('DEL', KEYS[7], KEYS[8])
else
  redis.call('ZADD', KEYS[4], 0, pad(now) .. '|' .. tenant .. '|' .. id)
  if ARGV[9] ~= '' then
    redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', ARGV[9])
  end
  refreshDue(KEYS[3], dueMember, redis.call('HGET', KEYS[1], 'dueAt'), KEYS[7])
end

appendTimeline(KEYS[1], KEYS[5], KEYS[6], nowText, tonumber(ARGV[10]), n + 1, tonumber(ARGV[n]))

local fenceKey = KEYS[9 + s + r]
if fenceKey then
  redis.call('SET', fenceKey, '1', 'PX', 60000)
end

if brief then
  return { 'updated', { 'version', versionText, 'status', to, 'updatedAt', nowText } }
end
return { 'updated', redis.call('HGETALL', KEYS[1]) }
