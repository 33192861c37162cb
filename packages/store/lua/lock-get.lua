-- lock-get: reads a lock as of the store clock (LockStore.get). Read-only.
--
-- KEYS[1]  t:<tenant>:lock:<resource>  (see lock-acquire.lua)
--
-- Returns the lock JSON {mode, owners, expires_at} with expired owners left out, or nil when no owner is
-- live. Expired owners are only dropped from the answer; the next write drops them from the record.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local raw = redis.call('GET', KEYS[1])
if not raw then
  return false
end
local lock = cjson.decode(raw)
local owners, latest = {}, 0
for id, hold in pairs(lock.owners) do
  if hold.expires_at >= now then
    owners[id] = hold
    if hold.expires_at > latest then
      latest = hold.expires_at
    end
  end
end
if latest == 0 then
  return false
end
return cjson.encode({ mode = lock.mode, owners = owners, expires_at = latest })
