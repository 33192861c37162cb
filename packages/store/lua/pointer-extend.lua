-- pointer-extend: makes a payload live at least until a store-clock time (PointerStore.extend). Never
-- shortens its life.
--
-- KEYS[1]  payload hash (see pointer-put.lua)
-- ARGV[1]  until, store-clock ms
--
-- Returns 1 when the payload exists, 0 when it does not. Only payload records count (a hash holding data
-- and tenant): a crafted pointer naming some other key must not change that key.
if redis.call('TYPE', KEYS[1]).ok ~= 'hash'
  or redis.call('HEXISTS', KEYS[1], 'data') == 0
  or redis.call('HEXISTS', KEYS[1], 'tenant') == 0 then
  return 0
end
local pttl = redis.call('PTTL', KEYS[1])
if pttl < 0 then
  -- No expiry: it already lives forever.
  return 1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local target = tonumber(ARGV[1])
if now + pttl < target then
  redis.call('PEXPIREAT', KEYS[1], target)
  redis.call('HSET', KEYS[1], 'expires_at', string.format('%d', target))
end
return 1
