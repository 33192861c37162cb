-- lock-common: shared by the lock-* scripts through `-- @include lock-common` (expanded by
-- src/redis/script.ts before the script is loaded, so each script is still one self-contained EVAL).
--
-- A lock is a string key holding JSON {mode, owners = {<owner> = {count, expires_at}}} whose PXAT is the
-- latest owner expiry. Time is the store clock (TIME); an owner is live through its expiry millisecond.

local function lock_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The live owners of the lock at `now`: owners table, number of live owners, stored mode (nil if none).
local function lock_load(key, now)
  local owners, live, mode = {}, 0, nil
  local raw = redis.call('GET', key)
  if raw then
    local lock = cjson.decode(raw)
    for id, hold in pairs(lock.owners) do
      if hold.expires_at >= now then
        owners[id] = hold
        live = live + 1
      end
    end
    if live > 0 then
      mode = lock.mode
    end
  end
  return owners, live, mode
end

local function lock_latest(owners)
  local latest = 0
  for _, h in pairs(owners) do
    if h.expires_at > latest then
      latest = h.expires_at
    end
  end
  return latest
end

-- Stores the lock (expiring with its latest owner) and returns the JSON the adapter decodes.
local function lock_save(key, mode, owners)
  local latest = lock_latest(owners)
  redis.call('SET', key, cjson.encode({ mode = mode, owners = owners }), 'PXAT', string.format('%d', latest))
  return cjson.encode({ mode = mode, owners = owners, expires_at = latest })
end

local function lock_not_held(resource, owner)
  return redis.error_reply('CORDUM lock_not_held ' .. cjson.encode({
    resource = resource,
    owner = owner,
    message = owner .. ' does not hold lock ' .. resource .. ' (never acquired, already released or expired)',
  }))
end
