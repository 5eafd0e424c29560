-- Lease up to `limit` due tasks, earlier queues first, each queue in claim order.
-- ARGV: base, now, limit, lease_token, lease_expires_at, worker_id, promote_cap, queue...
-- Returns the claimed tasks (tasks_reply).
local now_s, now = ARGV[2], tonumber(ARGV[2])
local limit, token, expires_at, worker = tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local cap = tonumber(ARGV[7])
local out = {}
local taken = 0

-- Delayed tasks now due join the ready set.
local function promote(q)
  local due = redis.call('ZRANGEBYSCORE', delayed_key(q), '-inf', now_s, 'LIMIT', 0, cap)
  for _, id in ipairs(due) do
    redis.call('ZREM', delayed_key(q), id)
    local v = redis.call('HMGET', tkey(id), 'status', 'priority', 'rk')
    if claimable(v[1]) and v[3] then
      redis.call('ZADD', ready_key(q), -tonumber(v[2]), v[3])
    end
  end
end

local function lease(id, q, row)
  local attempts = tostring(tonumber(row[AT.attempts]) + 1)
  redis.call('HSET', tkey(id), 'status', 'running', 'attempts', attempts, 'lease_token', token,
    'lease_expires_at', expires_at, 'worker_id', worker, 'updated_at', now_s)
  redis.call('ZADD', LEASES, expires_at, id)
  if row[AT.expires_at] then redis.call('ZREM', TTL, id) end
  move_status(id, q, row[AT.status], 'running', row[AT.created_at])
  row[AT.status], row[AT.attempts], row[AT.lease_token] = 'running', attempts, token
  row[AT.lease_expires_at], row[AT.worker_id], row[AT.updated_at] = expires_at, worker, now_s
  row[RK_AT] = nil
  taken = taken + 1
  out[taken] = row
end

for qi = 8, #ARGV do
  if taken >= limit then break end
  local q = ARGV[qi]
  promote(q)
  while taken < limit do
    local popped = redis.call('ZPOPMIN', ready_key(q), limit - taken)
    if #popped == 0 then break end
    for j = 1, #popped, 2 do
      local member = popped[j]
      local id = string.sub(member, RANK_ID_START)
      -- Its fields and ready-set member, read once: the leased row is returned as written.
      local row = redis.call('HMGET', tkey(id), unpack(WITH_RK))
      local expires = row[AT.expires_at]
      -- A task past its TTL is left to reap(), which reports it as expired.
      if row[RK_AT] == member and claimable(row[AT.status]) and not (expires and tonumber(expires) <= now) then
        lease(id, q, row)
      end
    end
  end
end

-- A full claim may leave work behind: wake another idle worker for it.
if taken >= limit then
  for qi = 8, #ARGV do
    if redis.call('ZCARD', ready_key(ARGV[qi])) > 0 then
      wake(ARGV[qi])
      break
    end
  end
end
return tasks_reply(out)
