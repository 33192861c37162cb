-- dlq-delete: removes a tenant's DLQ entry for a job and its index members.
--
-- KEYS[1]  entry          hash: entry, member, reason (see dlq-put)
-- KEYS[2]  index          zset of all the tenant's entries
-- KEYS[3]  reason index   the reason index the caller saw the entry in (any key when it saw none)
-- ARGV[1]  reasonCode the caller saw on the entry, '' if it saw none
-- Returns 1 when deleted, 0 when there is no entry, nil when the entry's reasonCode is no longer ARGV[1]
-- (it was replaced meanwhile; the caller re-reads it and retries).

local current = redis.call('HMGET', KEYS[1], 'reason', 'member')
if not current[1] then
  return 0
end
if current[1] ~= ARGV[1] then
  return false
end
redis.call('ZREM', KEYS[2], current[2])
redis.call('ZREM', KEYS[3], current[2])
redis.call('DEL', KEYS[1])
return 1
