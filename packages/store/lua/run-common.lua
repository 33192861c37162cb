-- run-common: functions shared by the run-* scripts (pulled in with `-- @include run-common`).
--
-- Stored formats (built by model/run.ts): a timeline entry is the zset member
-- '{"seq":<n>,"at":<ms>,' .. tail, scored by its seq; an inbox event likewise. The tail is JSON text made by
-- the caller and never decoded here, except for reading `at` (a prefix match) and the key of a trimmed
-- timeline entry.

local function storeNow()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fmt(n)
  return string.format('%d', n)
end

-- 15-digit zero-padded ms: the lex index members (model/run.ts padMs).
local function pad(n)
  return string.format('%015d', n)
end

-- Writes a run document stored in parts (model/run-doc.ts): the base and the layout mark, then the part
-- fields from ARGV[first]: m, then m pairs field, JSON; then d, then d part fields to remove. A 'full' write
-- first removes every part field the record holds, so no part of an earlier document survives.
local function writeDocParts(recordKey, base, mode, first)
  if mode == 'full' then
    for _, f in ipairs(redis.call('HKEYS', recordKey)) do
      local prefix = string.sub(f, 1, 2)
      if f == 'def' or prefix == 's:' or prefix == 'c:' then
        redis.call('HDEL', recordKey, f)
      end
    end
  end
  redis.call('HSET', recordKey, 'doc', base, 'layout', '2')
  local m = tonumber(ARGV[first])
  for i = 0, m - 1 do
    redis.call('HSET', recordKey, ARGV[first + 1 + 2 * i], ARGV[first + 2 + 2 * i])
  end
  local at = first + 1 + 2 * m
  for i = 1, tonumber(ARGV[at]) do
    redis.call('HDEL', recordKey, ARGV[at + i])
  end
end

-- Appends `n` entries whose key/tail pairs start at ARGV[first]; a key of '' means none. An entry whose key
-- the run's timeline already holds is not appended again: its original seq is answered. Keeps the newest
-- `limit` entries, forgetting the keys of dropped ones. Updates the record's `tlSeq`.
-- Returns a flat list {seq, duplicate (0/1), …} in request order.
local function appendTimeline(recordKey, timelineKey, keysKey, nowText, limit, first, n)
  local out = {}
  if n == 0 then
    return out
  end
  local seq = tonumber(redis.call('HGET', recordKey, 'tlSeq') or '0')
  for i = 0, n - 1 do
    local key = ARGV[first + 2 * i]
    local tail = ARGV[first + 2 * i + 1]
    local known = false
    if key ~= '' then
      known = redis.call('HGET', keysKey, key)
    end
    if known then
      out[#out + 1] = tonumber(known)
      out[#out + 1] = 1
    else
      seq = seq + 1
      local seqText = fmt(seq)
      redis.call('ZADD', timelineKey, seqText, '{"seq":' .. seqText .. ',"at":' .. nowText .. ',' .. tail)
      if key ~= '' then
        redis.call('HSET', keysKey, key, seqText)
      end
      out[#out + 1] = seq
      out[#out + 1] = 0
    end
  end
  redis.call('HSET', recordKey, 'tlSeq', fmt(seq))
  local excess = redis.call('ZCARD', timelineKey) - limit
  if excess > 0 then
    local dropped = redis.call('ZPOPMIN', timelineKey, excess)
    for j = 1, #dropped, 2 do
      local key = cjson.decode(dropped[j]).key
      if type(key) == 'string' then
        redis.call('HDEL', keysKey, key)
      end
    end
  end
  return out
end

-- Puts a non-terminal run on the due index at min(its dueAt, the push time of its oldest inbox event), or
-- takes it off when it has neither.
local function refreshDue(dueKey, member, dueAt, inboxKey)
  local at = nil
  if dueAt then
    at = tonumber(dueAt)
  end
  local oldest = redis.call('ZRANGE', inboxKey, 0, 0)
  if oldest[1] then
    local pushed = tonumber(string.match(oldest[1], '^{"seq":%d+,"at":(%d+),'))
    if pushed and (at == nil or pushed < at) then
      at = pushed
    end
  end
  if at then
    redis.call('ZADD', dueKey, fmt(at), member)
  else
    redis.call('ZREM', dueKey, member)
  end
end
