-- lock-release: drops one hold of an owner (LockStore.release).
--
-- KEYS[1]  t:<tenant>:lock:<resource>  (see lock-acquire.lua)
-- ARGV[1]  owner
-- ARGV[2]  resource (for the error message only)
--
-- Returns the remaining lock JSON {mode, owners, expires_at}, or nil when no owner is left (key deleted).
-- Errors: CORDUM lock_not_held {resource, owner, message} when the owner holds no live hold (never held,
-- fully released, or expired). Checked before any write.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local owner = ARGV[1]

local owners, live, mode = {}, 0, nil
local raw = redis.call('GET', KEYS[1])
if raw then
  local lock = cjson.decode(raw)
  mode = lock.mode
  for id, hold in pairs(lock.owners) do
    if hold.expires_at >= now then
      owners[id] = hold
      live = live + 1
    end
  end
end

if owners[owner] == nil then
  return redis.error_reply('CORDUM lock_not_held ' .. cjson.encode({
    resource = ARGV[2],
    owner = owner,
    message = owner .. ' does not hold lock ' .. ARGV[2] .. ' (never acquired, already released or expired)',
  }))
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

local latest = 0
for _, h in pairs(owners) do
  if h.expires_at > latest then
    latest = h.expires_at
  end
end
redis.call('SET', KEYS[1], cjson.encode({ mode = mode, owners = owners }), 'PXAT', string.format('%d', latest))
return cjson.encode({ mode = mode, owners = owners, expires_at = latest })
