-- config-put: writes the next revision of a config document (a put, or a rollback to a kept revision).
--
-- KEYS[1]  document  string: record JSON of the current revision (absent when never written or deleted)
-- KEYS[2]  counter   string: last revision number ever assigned; kept across delete so numbers are never reused
-- KEYS[3]  history   zset: score = revision, member = that revision's record JSON
-- KEYS[4]  ids       set: scope ids of this scope (and tenant) that currently have a document
-- ARGV[1]  scope id (the member of KEYS[4])
-- ARGV[2]  expected revision: '' = unconditional, '0' = must not exist, 'n' = current revision must be n
-- ARGV[3]  history limit (>= 1): revisions kept, oldest dropped first
-- ARGV[4]  updatedBy as a JSON string literal (already quoted and escaped)
-- ARGV[5]  data, JSON object text
-- ARGV[6]  meta, JSON object text
-- ARGV[7]  rollback source revision, or '' for a plain put; it must still be in KEYS[3]
-- ARGV[8]  the document's name for messages, e.g. "team/acme/payments"
-- Returns the new record JSON.
-- Errors: CORDUM revision_conflict {current_revision, expected_revision, message}
--         CORDUM not_found {revision, message}   (rollback source trimmed since the caller read it)
--
-- Invariant: when KEYS[1] exists its revision equals KEYS[2], so the counter alone gives the current revision.
-- The record is assembled by concatenation so the caller's JSON is stored byte for byte: a cjson round trip
-- would turn [] into {} and round numbers to 14 significant digits. All checks happen before the first write,
-- because a script that fails halfway does not roll back.

local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local current = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  current = last
end

if ARGV[2] ~= '' then
  local expected = tonumber(ARGV[2])
  if expected ~= current then
    local message = string.format('config %s is at revision %d (0 = absent), expected %d: re-read it and retry',
      ARGV[8], current, expected)
    return redis.error_reply('CORDUM revision_conflict ' .. cjson.encode({
      current_revision = current, expected_revision = expected, message = message }))
  end
end

if ARGV[7] ~= '' then
  local source = tonumber(ARGV[7])
  if redis.call('ZCOUNT', KEYS[3], source, source) == 0 then
    local message = string.format('revision %d of config %s does not exist or has been trimmed from history',
      source, ARGV[8])
    return redis.error_reply('CORDUM not_found ' .. cjson.encode({ revision = source, message = message }))
  end
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local revision = last + 1
local record = '{"revision":' .. string.format('%d', revision) .. ',"updatedAt":' .. string.format('%d', now) ..
  ',"updatedBy":' .. ARGV[4] .. ',"data":' .. ARGV[5] .. ',"meta":' .. ARGV[6] .. '}'

redis.call('SET', KEYS[1], record)
redis.call('SET', KEYS[2], revision)
redis.call('ZADD', KEYS[3], revision, record)
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[3]) + 1))
redis.call('SADD', KEYS[4], ARGV[1])
return record
