-- job-expired: lists retention-index entries whose records have expired, by the server's clock, so the
-- caller can remove them from the listing indexes. Read-only.
--
-- KEYS[1] jobs:retired   members "<STATE>|<createdAt %015d>|<tenant>|<id>|<topic>", score = expiry ms
-- ARGV[1] the most entries to return
--
-- Returns the members. Redis expires a key strictly after its expiry time, hence the exclusive bound.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGE', KEYS[1], '-inf', '(' .. string.format('%d', now), 'BYSCORE', 'LIMIT', 0, ARGV[1])
