-- idempotency-release: compare-and-delete (IdempotencyStore.release). Undoes a claim whose creation failed
-- without deleting a later claim by someone else.
--
-- KEYS[1]  t:<tenant>:idem:<scope>:<key>
-- ARGV[1]  the value the caller claimed
--
-- Returns 1 when deleted, 0 when the key is missing or maps to another value.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
