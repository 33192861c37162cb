-- pointer-put: writes the payload record behind a pointer (PointerStore.putContext / putResult).
--
-- KEYS[1]  payload hash <prefix><pointer key> (e.g. <prefix>ctx:<job>); fields data (binary), content_type,
--          tenant, sha256, created_at, expires_at (store-clock ms); PEXPIREAT expires_at
-- KEYS[2]  fence:<token>, optional (mode "once" only): write only while it exists (model/fence.ts)
-- ARGV[1]  mode: "once" (context: write-once, identical re-put is idempotent) or "replace" (result)
-- ARGV[2]  data (bytes, binary-safe)
-- ARGV[3]  content type
-- ARGV[4]  tenant that writes it
-- ARGV[5]  lowercase hex sha256 of data
-- ARGV[6]  ttl ms (> 0)
-- ARGV[7]  the pointer (for the error message only)
--
-- Returns 1.
-- Errors: CORDUM fence_down {pointer, message} when KEYS[2] is given and absent (nothing written);
-- CORDUM already_exists {pointer, message} when mode is "once" and a different payload (bytes,
-- content type or tenant) is already stored; CORDUM permission_denied {pointer, message} when mode is
-- "replace" and the stored payload was written by another tenant (the message does not name it). Both are
-- checked before any write.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local key = KEYS[1]
local expires = now + tonumber(ARGV[6])

if KEYS[2] and ARGV[1] == 'once' and redis.call('EXISTS', KEYS[2]) == 0 then
  return redis.error_reply('CORDUM fence_down ' .. cjson.encode({
    pointer = ARGV[7],
    message = 'the input behind ' .. ARGV[7] .. ' is fenced on a write that has not happened',
  }))
end

if ARGV[1] == 'once' and redis.call('EXISTS', key) == 1 then
  local cur = redis.call('HMGET', key, 'data', 'content_type', 'tenant', 'expires_at')
  if cur[1] ~= ARGV[2] or cur[2] ~= ARGV[3] or cur[3] ~= ARGV[4] then
    return redis.error_reply('CORDUM already_exists ' .. cjson.encode({
      pointer = ARGV[7],
      message = 'the input behind ' .. ARGV[7] .. ' is write-once and already holds a different payload',
    }))
  end
  -- A retried submit with the same payload: keep the record, but let it live at least as long as this
  -- put asked (never shorter). A record without expiry keeps none.
  local cur_expires = tonumber(cur[4])
  if cur_expires ~= nil and cur_expires < expires then
    redis.call('HSET', key, 'expires_at', string.format('%d', expires))
    redis.call('PEXPIREAT', key, expires)
  end
  return 1
end

-- An output belongs to the tenant that wrote it until it expires or is deleted: another tenant's
-- putResult for the same job id must not replace it. Only a payload record (a hash with a tenant) has an
-- owner to protect.
if ARGV[1] == 'replace' and redis.call('TYPE', key).ok == 'hash' then
  local owner = redis.call('HGET', key, 'tenant')
  if owner and owner ~= ARGV[4] then
    local message = 'the output behind ' .. ARGV[7] ..
      ' was written by another tenant; only that tenant may replace it'
    return redis.error_reply('CORDUM permission_denied ' .. cjson.encode({ pointer = ARGV[7], message = message }))
  end
end

-- DEL first so a replaced record never keeps fields of an older layout.
redis.call('DEL', key)
redis.call('HSET', key,
  'data', ARGV[2],
  'content_type', ARGV[3],
  'tenant', ARGV[4],
  'sha256', ARGV[5],
  'created_at', string.format('%d', now),
  'expires_at', string.format('%d', expires))
redis.call('PEXPIREAT', key, expires)
return 1
