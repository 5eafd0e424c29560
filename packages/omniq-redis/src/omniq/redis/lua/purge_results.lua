-- Delete results whose expiry passed, at most `cap` per call. ARGV: base, now, cap.
-- Returns how many expired results were removed (Redis may have dropped the value already).
local index = P .. ':rx'
local ids = redis.call('ZRANGEBYSCORE', index, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('DEL', P .. ':r:' .. id)
  redis.call('ZREM', index, id)
end
return #ids
