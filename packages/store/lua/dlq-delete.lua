-- dlq-delete: removes a tenant's DLQ entry for a job and its index members.
--
-- KEYS[1]  entry          hash: entry, member, reason (see dlq-put)
-- KEYS[2]  index          zset of all the tenant's entries
-- KEYS[3]  reason index   zset of "<reasonCode>\0<index member>" (see dlq-put)
-- Returns 1 when deleted, 0 when there is no entry.

local current = redis.call('HMGET', KEYS[1], 'reason', 'member')
if not current[1] then
  return 0
end
redis.call('ZREM', KEYS[2], current[2])
redis.call('ZREM', KEYS[3], current[1] .. '\0' .. current[2])
redis.call('DEL', KEYS[1])
return 1
