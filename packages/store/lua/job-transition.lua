-- job-transition: the JobStore compare-and-set. Applies a state change and/or patch only if the job is in
-- one of the expected states (and at the expected version), together with every index it touches and at
-- most one appended event. Concurrent callers are serialised by Redis, so exactly one of any number of
-- conflicting writers wins; the others get state_conflict.
--
-- KEYS[1]  t:<tenant>:job:<id>             record hash
-- KEYS[2]  t:<tenant>:job-events:<id>      event list
-- KEYS[3]  jobref:<id>                     id -> tenant
-- KEYS[4]  t:<tenant>:jobs:active          set of the tenant's non-terminal job ids
-- KEYS[5]  jobs:retired                    retention index (see job-create.lua)
-- KEYS[6]  jobs:timer:due                  KEYS[7] jobs:timer:lease    KEYS[8] jobs:timer:deadline
-- KEYS[9]  t:<tenant>:jobs:state:<to>      KEYS[10] jobs:state:<to>
-- KEYS[9 + 2i]  t:<tenant>:jobs:state:<from_i>,  KEYS[10 + 2i]  jobs:state:<from_i>   for i = 1..n
--   (every state the caller accepts as current is passed, so the script never builds a key name)
-- KEYS[11 + 2n] t:<tenant>:jobs:slots        concurrency slots: hash job id -> actor ("" for none)
-- KEYS[12 + 2n] t:<tenant>:jobs:actor-slots  hash actor -> slots the actor holds
-- KEYS[13 + 2n] jobs:slot-tenants            set of tenants holding slots (leak repair walks it)
-- KEYS[14 + 2n] fence:<token>, optional, with a terminal `to`: raised for 60 s (model/fence.ts) with the
--   job's outcome as stored: tenant, run_id label, state, resultPtr, errorCode, errorMessage, each
--   "<byte length>:<text>"
--
-- ARGV[1] id      ARGV[2] tenant     ARGV[3] to      ARGV[4] "1" when `to` is terminal
-- ARGV[5] expected version, or ""    ARGV[6] actor   ARGV[7] reason   ARGV[8] "1" when a reason was given
-- ARGV[9] retention ms               ARGV[10] events kept per job     ARGV[11] "1" to increment attempts
-- ARGV[12] n, then n pairs: from state, "1" when the state machine allows from -> to (computed by the
--   caller from @cordum/protocol, the one copy of the transition table)
-- then s, then s field/value pairs to set; then d, then d field names to delete;
-- then the via state ("" for none) and its event's reason: the job passes through it (two events, one
-- write; the caller's allowed flags already cover both steps)
-- then "1" when `to` keeps a concurrency slot (SCHEDULED, DISPATCHED, RUNNING; a move anywhere else
-- releases the job's slot), then "1" to take a slot, its actor ("" for none), the tenant limit and the
-- actor limit (0 = no limit). A job that holds a slot keeps it; otherwise the actor's count, then the
-- tenant's, must be below its limit.
--
-- Returns the record as HGETALL pairs. Fails with "CORDUM not_found {id, message}",
-- "CORDUM state_conflict {current_state, current_version, message}",
-- "CORDUM invalid_transition {current_state, to, message}" or
-- "CORDUM quota_exceeded {scope, tenant, actor, active, limit, message}", having written nothing.

local id, tenant, to = ARGV[1], ARGV[2], ARGV[3]
local terminal = ARGV[4] == '1'

local function fail(code, details)
  return redis.error_reply('CORDUM ' .. code .. ' ' .. cjson.encode(details))
end

local cur = redis.call('HMGET', KEYS[1], 'state', 'version', 'attempts', 'createdAt', 'topic')
local state = cur[1]
if not state then
  return fail('not_found', { id = id, message = 'job ' .. id .. ' not found' })
end
local version = tonumber(cur[2])

local n = tonumber(ARGV[12])
local slot, allowed = nil, false
local names = {}
for i = 1, n do
  local s = ARGV[11 + 2 * i]
  names[i] = s
  if s == state then
    slot = i
    allowed = ARGV[12 + 2 * i] == '1'
  end
end
if not slot then
  return fail('state_conflict', { current_state = state, current_version = version,
    message = 'job ' .. id .. ' is ' .. state .. ', expected ' .. table.concat(names, ' or ') })
end
if ARGV[5] ~= '' and tonumber(ARGV[5]) ~= version then
  return fail('state_conflict', { current_state = state, current_version = version,
    message = 'job ' .. id .. ' is at version ' .. string.format('%d', version) .. ', expected ' .. ARGV[5] })
end
if not allowed then
  return fail('invalid_transition', { current_state = state, to = to,
    message = 'job ' .. id .. ' cannot move from ' .. state .. ' to ' .. to })
end

-- Argument positions after the from list: patch sets, patch deletes, via, slot.
local p = 13 + 2 * n
local s = tonumber(ARGV[p])
local dp = p + 2 * s + 1
local d = tonumber(ARGV[dp])
local q = dp + d + 1
local via, viaReason = ARGV[q], ARGV[q + 1]
local keepsSlot, takeSlot, slotActor = ARGV[q + 2] == '1', ARGV[q + 3] == '1', ARGV[q + 4]
local sk = 11 + 2 * n
-- A caller built before quotas passes neither the slot keys nor their arguments: no slot is touched.
local slots = KEYS[sk] ~= nil and ARGV[q + 2] ~= nil
takeSlot = slots and takeSlot

-- Quotas: checked before anything is written, so a refused slot leaves the job as it was.
if takeSlot and redis.call('HEXISTS', KEYS[sk], id) == 0 then
  local function refuse(scope, active, limit)
    local held = string.format('%d', active) .. ' of its ' .. string.format('%d', limit)
    local message
    if scope == 'actor' then
      message = 'actor ' .. slotActor .. ' holds ' .. held .. ' concurrent job slots in tenant ' .. tenant
    else
      message = 'tenant ' .. tenant .. ' holds ' .. held .. ' concurrent job slots'
    end
    return fail('quota_exceeded', { scope = scope, tenant = tenant, actor = slotActor, active = active,
      limit = limit, message = message })
  end
  local tenantLimit, actorLimit = tonumber(ARGV[q + 5]), tonumber(ARGV[q + 6])
  if slotActor ~= '' and actorLimit > 0 then
    local active = tonumber(redis.call('HGET', KEYS[sk + 1], slotActor) or '0')
    if active >= actorLimit then return refuse('actor', active, actorLimit) end
  end
  if tenantLimit > 0 then
    local active = redis.call('HLEN', KEYS[sk])
    if active >= tenantLimit then return refuse('tenant', active, tenantLimit) end
  end
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nowText = string.format('%d', now)

-- The patch. Chunked: unpack() of a very long list would overflow the Lua C stack.
local chunk = {}
for i = 1, 2 * s do
  chunk[#chunk + 1] = ARGV[p + i]
  if #chunk == 400 or i == 2 * s then
    redis.call('HSET', KEYS[1], unpack(chunk))
    chunk = {}
  end
end
for i = 1, d do
  chunk[#chunk + 1] = ARGV[dp + i]
  if #chunk == 400 or i == d then
    redis.call('HDEL', KEYS[1], unpack(chunk))
    chunk = {}
  end
end

local attempts = tonumber(cur[3])
if ARGV[11] == '1' then attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
version = version + 1
redis.call('HSET', KEYS[1], 'state', to, 'version', string.format('%d', version), 'updatedAt', nowText)

local created = string.format('%015d', tonumber(cur[4]))
if state ~= to then
  local member = created .. '|' .. id
  local global = created .. '|' .. tenant .. '|' .. id
  redis.call('ZREM', KEYS[9 + 2 * slot], member)
  redis.call('ZADD', KEYS[9], 0, member)
  redis.call('ZREM', KEYS[10 + 2 * slot], global)
  redis.call('ZADD', KEYS[10], nowText, global)
end

-- Numbers are formatted by hand: cjson would print them with 14 significant digits.
local function event(from, into, reason)
  return '{"at":' .. nowText .. ',"from":' .. cjson.encode(from) .. ',"to":' .. cjson.encode(into) ..
    ',"actor":' .. cjson.encode(ARGV[6]) .. ',"reason":' .. cjson.encode(reason) ..
    ',"attempt":' .. string.format('%d', attempts) .. ',"version":' .. string.format('%d', version) .. '}'
end
local eventFrom = state
if via ~= nil and via ~= '' and via ~= state then
  redis.call('RPUSH', KEYS[2], event(state, via, viaReason))
  eventFrom = via
end
if eventFrom ~= to or ARGV[8] == '1' then
  redis.call('RPUSH', KEYS[2], event(eventFrom, to, ARGV[7]))
end
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[10]), -1)

-- Timer indexes follow the record: present while the field is set and the job is not terminal.
local timerMember = tenant .. '|' .. id
if terminal then
  redis.call('ZREM', KEYS[6], timerMember)
  redis.call('ZREM', KEYS[7], timerMember)
  redis.call('ZREM', KEYS[8], timerMember)
  redis.call('SREM', KEYS[4], id)
  local expireAt = now + tonumber(ARGV[9])
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', expireAt))
  redis.call('PEXPIREAT', KEYS[2], string.format('%d', expireAt))
  redis.call('PEXPIREAT', KEYS[3], string.format('%d', expireAt))
  redis.call('ZADD', KEYS[5], string.format('%d', expireAt),
    to .. '|' .. created .. '|' .. tenant .. '|' .. id .. '|' .. cur[5])
else
  local timers = redis.call('HMGET', KEYS[1], 'dueAt', 'leaseExpiresAt', 'deadlineAt')
  for i = 1, 3 do
    if timers[i] then
      redis.call('ZADD', KEYS[5 + i], timers[i], timerMember)
    else
      redis.call('ZREM', KEYS[5 + i], timerMember)
    end
  end
end

-- The slot follows the state: taken by this write, or released by a move out of the slot states.
if slots and not keepsSlot then
  local actor = redis.call('HGET', KEYS[sk], id)
  if actor then
    redis.call('HDEL', KEYS[sk], id)
    if actor ~= '' and redis.call('HINCRBY', KEYS[sk + 1], actor, -1) <= 0 then
      redis.call('HDEL', KEYS[sk + 1], actor)
    end
    if redis.call('HLEN', KEYS[sk]) == 0 then redis.call('SREM', KEYS[sk + 2], tenant) end
  end
elseif takeSlot and redis.call('HSETNX', KEYS[sk], id, slotActor) == 1 then
  if slotActor ~= '' then redis.call('HINCRBY', KEYS[sk + 1], slotActor, 1) end
  redis.call('SADD', KEYS[sk + 2], tenant)
end

local fenceKey = KEYS[14 + 2 * n]
if fenceKey and terminal then
  local o = redis.call('HMGET', KEYS[1], 'tenant', 'l:run_id', 'state', 'resultPtr', 'errorCode', 'errorMessage')
  local value = ''
  for i = 1, 6 do
    local text = o[i] or ''
    value = value .. string.len(text) .. ':' .. text
  end
  redis.call('SET', fenceKey, value, 'PX', 60000)
end

return redis.call('HGETALL', KEYS[1])
