-- job-slots-repair: leak repair of concurrency slots (quotas). The store's own writes release a job's slot
-- in the same write that moves it out of SCHEDULED, DISPATCHED or RUNNING; this releases the slot of every
-- listed job whose record is gone or sits in any other state (a record lost outside those writes), and,
-- when asked, recounts the tenant's per-actor counts from its slot hash.
--
-- KEYS[1] t:<tenant>:jobs:slots        hash job id -> actor ("" for none)
-- KEYS[2] t:<tenant>:jobs:actor-slots  hash actor -> slots held
-- KEYS[3] jobs:slot-tenants            set of tenants holding slots
-- KEYS[3 + i] t:<tenant>:job:<id_i>    the record of each listed job, i = 1..n
--
-- ARGV[1] tenant   ARGV[2] "1" to recount the per-actor counts   ARGV[2 + i] id_i
--
-- Returns the number of slots released.

local released = 0
for i = 1, #KEYS - 3 do
  local id = ARGV[2 + i]
  local actor = redis.call('HGET', KEYS[1], id)
  if actor then
    local state = redis.call('HGET', KEYS[3 + i], 'state')
    if state ~= 'SCHEDULED' and state ~= 'DISPATCHED' and state ~= 'RUNNING' then
      redis.call('HDEL', KEYS[1], id)
      if actor ~= '' and redis.call('HINCRBY', KEYS[2], actor, -1) <= 0 then
        redis.call('HDEL', KEYS[2], actor)
      end
      released = released + 1
    end
  end
end

if ARGV[2] == '1' then
  local entries = redis.call('HGETALL', KEYS[1])
  local counts = {}
  for i = 2, #entries, 2 do
    local actor = entries[i]
    if actor ~= '' then counts[actor] = (counts[actor] or 0) + 1 end
  end
  redis.call('DEL', KEYS[2])
  local chunk = {}
  for actor, n in next, counts do
    chunk[#chunk + 1] = actor
    chunk[#chunk + 1] = string.format('%d', n)
    if #chunk == 400 then
      redis.call('HSET', KEYS[2], unpack(chunk))
      chunk = {}
    end
  end
  if #chunk > 0 then redis.call('HSET', KEYS[2], unpack(chunk)) end
end

if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[1])
end
return released
