-- Give back the tasks still leased under one token (a claim whose reply was lost): pending again,
-- the attempt the claim counted given back. ARGV: base, token, now. Returns how many.
--
-- The lease index is read whole: this runs only after a failed claim, and keeping an index by
-- token would cost every claim a write.
local token, now_s = ARGV[2], ARGV[3]
local released = 0
local woken = {}
for _, id in ipairs(redis.call('ZRANGE', LEASES, 0, -1)) do
  local row = read_task(id, {'lease_token', 'status', 'queue', 'attempts', 'created_at', 'due_at',
    'priority', 'expires_at'})
  if row[1] == token and row[2] == 'running' and row[3] then
    local q = row[3]
    local attempts = tonumber(row[4])
    redis.call('ZREM', LEASES, id)
    redis.call('HDEL', tkey(id), 'lease_token', 'lease_expires_at')
    redis.call('HSET', tkey(id), 'status', 'pending', 'updated_at', now_s,
      'attempts', attempts and tostring(math.max(attempts - 1, 0)) or row[4] or '0')
    move_status(id, q, 'running', 'pending', row[5])
    if row[8] then redis.call('ZADD', TTL, row[8], id) end
    if schedule(id, q, row[6], row[7], tonumber(now_s)) then woken[q] = true end
    released = released + 1
  end
end
for q in pairs(woken) do wake(q) end
return released
