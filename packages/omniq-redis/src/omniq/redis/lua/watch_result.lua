-- Register a result waiter and read the result in one step, so a result stored after this read
-- always finds the registration (and pushes a notify token). ARGV[2]: task id, ARGV[3]: now,
-- ARGV[4]: the waiter's deadline. Registrations past their deadline are dropped; one task's
-- registration keeps the latest deadline of its waiters. Returns the stored result or nil.
local id, now, deadline = ARGV[2], ARGV[3], ARGV[4]
redis.call('ZREMRANGEBYSCORE', WAITERS, '-inf', now)
local held = redis.call('ZSCORE', WAITERS, id)
if not held or tonumber(held) < tonumber(deadline) then
  redis.call('ZADD', WAITERS, deadline, id)
end
return redis.call('GET', P .. ':r:' .. id)
