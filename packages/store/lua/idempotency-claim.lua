-- idempotency-claim: sets an idempotency key unless it exists, atomically (IdempotencyStore.claim).
--
-- KEYS[1]  t:<tenant>:idem:<scope>:<key>  string: the value of the first claim; PX ttl
-- ARGV[1]  value
-- ARGV[2]  ttl ms (> 0)
--
-- Returns {1, value} when this call claimed the key, {0, holder's value} when it was already claimed.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, ARGV[1]}
end
return {0, redis.call('GET', KEYS[1])}
