-- schema-delete: unregisters a tenant's schema, keeping its version counter as a tombstone.
--
-- KEYS[1]  schema  hash (see schema-put); only `version` survives
-- KEYS[2]  index   zset of the tenant's registered ids
-- ARGV[1]  schema id (the member of KEYS[2])
-- Returns 1 when deleted, 0 when it was not registered.

if redis.call('HEXISTS', KEYS[1], 'schema') == 0 then
  return 0
end
redis.call('HDEL', KEYS[1], 'createdAt', 'updatedAt', 'sha256', 'schema')
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
