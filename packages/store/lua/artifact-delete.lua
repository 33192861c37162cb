-- artifact-delete: removes an artifact with its chunks, pointer reference and listing entry
-- (ArtifactStore.delete).
--
-- KEYS[1]   t:<tenant>:art:<id>:meta     (see artifact-put.lua)
-- KEYS[2]   artref:<id>
-- KEYS[3]   t:<tenant>:art:index
-- KEYS[4]   t:<tenant>:art:expiry
-- KEYS[5..] t:<tenant>:art:<id>:chunk:<n>  every chunk, as counted by the meta's chunks field
-- ARGV[1]   id
-- ARGV[2]   tenant
--
-- Returns 1 when deleted, 0 when the tenant has no such artifact (another tenant's id included).
-- The caller read the chunk count before calling; an id's chunk count never changes, so the keys match.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
for n = 5, #KEYS do
  redis.call('DEL', KEYS[n])
end
redis.call('DEL', KEYS[1])
-- artref belongs to whoever wrote the artifact; only remove it when it names this tenant.
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('DEL', KEYS[2])
end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
