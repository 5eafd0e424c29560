-- Settle attempts whose token is the current lease. ARGV: base, then per outcome: id, token,
-- status, at, due_at|'', error|''. Returns the accepted ids.
local accepted = {}
local woken = {}
for i = 2, #ARGV, 6 do
  local id, token, status, at, due, err = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local key = tkey(id)
  local v = redis.call('HMGET', key, 'lease_token', 'status', 'queue', 'created_at', 'dedup_key',
    'priority', 'due_at', 'expires_at')
  if v[1] and v[1] == token then
    local q = v[3]
    redis.call('HSET', key, 'status', status, 'updated_at', at)
    redis.call('HDEL', key, 'lease_token', 'lease_expires_at')
    if due ~= '' then redis.call('HSET', key, 'due_at', due) else due = v[7] end
    if err ~= '' then redis.call('HSET', key, 'error', err) else redis.call('HDEL', key, 'error') end
    redis.call('ZREM', LEASES, id)
    move_status(id, q, v[2], status, v[4])
    if claimable(status) then
      if v[8] then redis.call('ZADD', TTL, v[8], id) end
      if schedule(id, q, due, v[6], tonumber(at)) then woken[q] = true end
    elseif not live(status) then
      release_dedup(id, v[5])
    end
    accepted[#accepted + 1] = id
  end
end
for q in pairs(woken) do wake(q) end
return accepted
