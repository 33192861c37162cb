-- config-delete: deletes the current revision of a config document, keeping its history and counter.
--
-- KEYS[1]  document  string: record JSON of the current revision
-- KEYS[2]  counter   string: last revision number ever assigned (left alone: a re-create continues from it)
-- KEYS[3]  ids       set: scope ids of this scope (and tenant) that currently have a document
-- ARGV[1]  scope id (the member of KEYS[3])
-- ARGV[2]  expected revision: '' = unconditional, '0' = must not exist, 'n' = current revision must be n
-- ARGV[3]  the document's name for messages, e.g. "team/acme/payments"
-- Returns 1 when a document was deleted, 0 when there was none.
-- Errors: CORDUM revision_conflict {current_revision, expected_revision, message}

local exists = redis.call('EXISTS', KEYS[1]) == 1
local current = 0
if exists then
  current = tonumber(redis.call('GET', KEYS[2]) or '0')
end

if ARGV[2] ~= '' then
  local expected = tonumber(ARGV[2])
  if expected ~= current then
    local message = string.format('config %s is at revision %d (0 = absent), expected %d: re-read it and retry',
      ARGV[3], current, expected)
    return redis.error_reply('CORDUM revision_conflict ' .. cjson.encode({
      current_revision = current, expected_revision = expected, message = message }))
  end
end

if not exists then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
