-- lock-release: drops one hold of an owner (LockStore.release).
--
-- KEYS[1]  t:<tenant>:lock:<resource>  (see lock-acquire.lua)
-- ARGV[1]  owner
-- ARGV[2]  resource (for the error message only)
--
-- Returns the remaining lock JSON {mode, owners, expires_at}, or nil when no owner is left (key deleted).
-- Errors: CORDUM lock_not_held {resource, owner, message} when the owner holds no live hold (never held,
-- fully released, or expired). Checked before any write.
-- @include lock-common
local owner, resource = ARGV[1], ARGV[2]
local owners, live, mode = lock_load(KEYS[1], lock_now())

if owners[owner] == nil then
  return lock_not_held(resource, owner)
end

local hold = owners[owner]
hold.count = hold.count - 1
if hold.count <= 0 then
  owners[owner] = nil
  live = live - 1
end
if live == 0 then
  redis.call('DEL', KEYS[1])
  return false
end
return lock_save(KEYS[1], mode, owners)
