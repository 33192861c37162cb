-- lock-renew: sets an owner's expiry to now + ttl (LockStore.renew).
--
-- KEYS[1]  t:<tenant>:lock:<resource>  (see lock-acquire.lua)
-- ARGV[1]  owner
-- ARGV[2]  ttl ms (> 0)
-- ARGV[3]  resource (for the error message only)
--
-- Returns the lock JSON {mode, owners, expires_at}; the key's PEXPIREAT follows the latest owner expiry.
-- Errors: CORDUM lock_not_held {resource, owner, message} when the owner holds no live hold.
-- @include lock-common
local owner, ttl, resource = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now = lock_now()
local owners, _, mode = lock_load(KEYS[1], now)

if owners[owner] == nil then
  return lock_not_held(resource, owner)
end

owners[owner].expires_at = now + ttl
return lock_save(KEYS[1], mode, owners)
