-- Extend the leases still held. ARGV: base, lease_expires_at, now, then id/token pairs.
-- Returns the ids whose lease is gone.
local lost = {}
for i = 4, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local key = tkey(id)
  if redis.call('HGET', key, 'lease_token') == token then
    redis.call('HSET', key, 'lease_expires_at', ARGV[2], 'updated_at', ARGV[3])
    redis.call('ZADD', LEASES, 'XX', ARGV[2], id)
  else
    lost[#lost + 1] = id
  end
end
return lost
