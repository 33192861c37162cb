-- lock-get: reads a lock as of the store clock (LockStore.get). Read-only.
--
-- KEYS[1]  t:<tenant>:lock:<resource>  (see lock-acquire.lua)
--
-- Returns the lock JSON {mode, owners, expires_at} with expired owners left out, or nil when no owner is
-- live. Expired owners are only dropped from the answer; the next write drops them from the record.
-- @include lock-common
local owners, live, mode = lock_load(KEYS[1], lock_now())
if live == 0 then
  return false
end
return cjson.encode({ mode = mode, owners = owners, expires_at = lock_latest(owners) })
