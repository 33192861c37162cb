-- lock-acquire: takes a shared or exclusive hold on a resource (LockStore.acquire).
--
-- KEYS[1]  t:<tenant>:lock:<resource>  string: JSON {mode, owners = {<owner> = {count, expires_at}}};
--          PEXPIREAT = the latest owner expiry, so the key disappears when the last owner lapses
-- ARGV[1]  owner
-- ARGV[2]  requested mode: "exclusive" or "shared"
-- ARGV[3]  ttl ms (> 0) of this owner's hold
-- ARGV[4]  resource (for the error message only)
--
-- Returns the lock JSON {mode, owners, expires_at}.
-- Errors: CORDUM lock_held {resource, mode, owners (sorted owner ids), message}
--
-- An owner is expired once expires_at < now (store clock = TIME): Redis's own rule for the key's PEXPIREAT
-- and the memory adapter's isExpired, so a hold lasts through its expires_at millisecond on every backend.
-- lock-get, lock-release and lock-renew drop expired owners the same way.
--
-- Rules, decided after dropping expired owners:
--   free lock                       -> taken in the requested mode
--   exclusive held by the owner     -> re-entrant (count + 1), whatever mode is asked: an exclusive holder
--                                      asking for shared keeps its exclusive hold, which already covers it
--   shared, shared requested        -> the owner joins or re-enters
--   shared, exclusive requested     -> allowed only for the sole shared owner (upgrade; the whole hold
--                                      becomes exclusive until the owner releases it completely)
--   anything else                   -> lock_held
-- A re-entry never shortens the owner's expiry. Timestamps are 13-digit ms, inside cjson's 14 digits.
-- @include lock-common
local owner, want, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = lock_now()
local owners, live, mode = lock_load(KEYS[1], now)
mode = mode or want

if live > 0 then
  local mine = owners[owner] ~= nil
  local ok
  if mode == 'exclusive' then
    ok = mine
  elseif want == 'shared' then
    ok = true
  else
    ok = mine and live == 1
    if ok then
      mode = 'exclusive'
    end
  end
  if not ok then
    local ids = {}
    for id in pairs(owners) do
      ids[#ids + 1] = id
    end
    table.sort(ids)
    return redis.error_reply('CORDUM lock_held ' .. cjson.encode({
      resource = ARGV[4],
      mode = mode,
      owners = ids,
      message = 'lock ' .. ARGV[4] .. ' is held ' .. mode .. ' by ' .. table.concat(ids, ', ') ..
        '; retry after it is released or expires',
    }))
  end
end

local hold = owners[owner] or { count = 0, expires_at = 0 }
hold.count = hold.count + 1
hold.expires_at = math.max(hold.expires_at, now + ttl)
owners[owner] = hold

return lock_save(KEYS[1], mode, owners)
