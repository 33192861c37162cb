-- pointer-delete: deletes a payload record (PointerStore.delete).
--
-- KEYS[1]  payload hash (see pointer-put.lua)
-- ARGV[1]  tenant the payload must belong to, or '' to delete whoever wrote it
--
-- Returns 1 when deleted, 0 when missing or (with ARGV[1]) written by another tenant. Only payload records
-- count (a hash holding data and tenant): pointers come from packets, so a crafted one naming another
-- store's key must not delete it.
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' or redis.call('HEXISTS', KEYS[1], 'data') == 0 then
  return 0
end
local owner = redis.call('HGET', KEYS[1], 'tenant')
if not owner or (ARGV[1] ~= '' and owner ~= ARGV[1]) then
  return 0
end
return redis.call('DEL', KEYS[1])
