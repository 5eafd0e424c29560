-- Lease up to `limit` due tasks, earlier queues first, each queue in claim order.
-- ARGV: base, now, limit, lease_token, lease_expires_at, worker_id, promote_cap, queue...
-- Returns the claimed tasks' fields (FIELDS order).
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

local function lease(id, q, v)
  local key = tkey(id)
  redis.call('HSET', key, 'status', 'running', 'attempts', tonumber(v[3]) + 1, 'lease_token', token,
    'lease_expires_at', expires_at, 'worker_id', worker, 'updated_at', now_s)
  redis.call('ZADD', LEASES, expires_at, id)
  if v[2] then redis.call('ZREM', TTL, id) end
  move_status(id, q, v[1], 'running', v[4])
  taken = taken + 1
  out[taken] = record(id)
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
      local v = redis.call('HMGET', tkey(id), 'status', 'expires_at', 'attempts', 'created_at', 'rk')
      -- A task past its TTL is left to reap(), which reports it as expired.
      if v[5] == member and claimable(v[1]) and not (v[2] and tonumber(v[2]) <= now) then
        lease(id, q, v)
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
return out
