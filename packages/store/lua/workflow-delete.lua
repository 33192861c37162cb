-- workflow-delete: removes a workflow from get and list; its versions stay unless purged.
--
-- KEYS[1] t:<tenant>:wf:<id>   KEYS[2] t:<tenant>:wf-versions:<id>   KEYS[3] t:<tenant>:wfs
-- ARGV[1] id   ARGV[2] '1' to purge the versions too
--
-- Returns 1 when a live workflow was deleted, else 0.

local current = redis.call('HGET', KEYS[1], 'current')
redis.call('HDEL', KEYS[1], 'current')
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[2] == '1' then
  redis.call('DEL', KEYS[2])
end
if current then
  return 1
end
return 0
