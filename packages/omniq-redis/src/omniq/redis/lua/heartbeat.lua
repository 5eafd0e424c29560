-- Extend the leases still held. ARGV: base, lease_expires_at, now, then id/token pairs.
-- Returns the ids whose lease is gone.
local lost = {}
for i = 4, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if read_task(id, {'lease_token'})[1] == token then
    redis.call('HSET', tkey(id), 'lease_expires_at', ARGV[2], 'updated_at', ARGV[3])
    redis.call('ZADD', LEASES, 'XX', ARGV[2], id)
  else
    lost[#lost + 1] = id
  end
end
return lost
