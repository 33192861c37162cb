-- lock-renew: sets an owner's expiry to now + ttl (LockStore.renew).
--
-- KEYS[1]  t:<tenant>:lock:<resource>  (see lock-acquire.lua)
-- ARGV[1]  owner
-- ARGV[2]  ttl ms (> 0)
-- ARGV[3]  resource (for the error message only)
--
-- Returns the lock JSON {mode, owners, expires_at}; the key's PEXPIREAT follows the latest owner expiry.
-- Errors: CORDUM lock_not_held {resource, owner, message} when the owner holds no live hold.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local owner, ttl = ARGV[1], tonumber(ARGV[2])

local owners, mode = {}, nil
local raw = redis.call('GET', KEYS[1])
if raw then
  local lock = cjson.decode(raw)
  mode = lock.mode
  for id, hold in pairs(lock.owners) do
    if hold.expires_at >= now then
      owners[id] = hold
    end
  end
end

if owners[owner] == nil then
  return redis.error_reply('CORDUM lock_not_held ' .. cjson.encode({
    resource = ARGV[3],
    owner = owner,
    message = owner .. ' does not hold lock ' .. ARGV[3] .. ' (never acquired, already released or expired)',
  }))
end

owners[owner].expires_at = now + ttl
local latest = 0
for _, h in pairs(owners) do
  if h.expires_at > latest then
    latest = h.expires_at
  end
end
redis.call('SET', KEYS[1], cjson.encode({ mode = mode, owners = owners }), 'PXAT', string.format('%d', latest))
return cjson.encode({ mode = mode, owners = owners, expires_at = latest })
