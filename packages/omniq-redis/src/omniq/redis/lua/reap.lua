-- Recover expired leases and expire tasks past their TTL, at most `cap` of each per call.
-- Then resolve the dependents of final tasks still holding some (a worker died between finish
-- and resolve_dependencies). ARGV: base, now, lease-expired error, cap, dependency-failed error
-- template. Returns {kinds, tasks (tasks_reply)}: kind per task is 'requeued', 'dead', 'expired',
-- 'released' or 'dependency_cancelled'.
local now_s, now, lease_error, cap = ARGV[2], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local kinds, records = {}, {}
local woken = {}

local function report(kind, id)
  kinds[#kinds + 1] = kind
  records[#records + 1] = record(id)
end

-- Running tasks whose lease ran out: back to pending while attempts remain, else dead.
local leases = redis.call('ZRANGEBYSCORE', LEASES, '-inf', '(' .. now_s, 'LIMIT', 0, cap)
for _, id in ipairs(leases) do
  redis.call('ZREM', LEASES, id)
  local key = tkey(id)
  local v = redis.call('HMGET', key, 'status', 'lease_expires_at', 'attempts', 'max_attempts', 'queue',
    'created_at', 'dedup_key', 'priority', 'expires_at')
  if v[1] == 'running' and v[2] and tonumber(v[2]) < now then
    redis.call('HDEL', key, 'lease_token', 'lease_expires_at')
    if tonumber(v[3]) >= tonumber(v[4]) then
      redis.call('HSET', key, 'status', 'dead', 'error', lease_error, 'updated_at', now_s)
      move_status(id, v[5], 'running', 'dead', v[6])
      release_dedup(id, v[7])
      report('dead', id)
    else
      redis.call('HSET', key, 'status', 'pending', 'due_at', now_s, 'updated_at', now_s)
      move_status(id, v[5], 'running', 'pending', v[6])
      if v[9] then redis.call('ZADD', TTL, v[9], id) end
      schedule(id, v[5], now_s, v[8], now)
      woken[v[5]] = true
      report('requeued', id)
    end
  end
end

-- Tasks not started within their TTL. The index holds only tasks that may still start.
local due = redis.call('ZRANGEBYSCORE', TTL, '-inf', now_s, 'LIMIT', 0, cap)
for _, id in ipairs(due) do
  redis.call('ZREM', TTL, id)
  local key = tkey(id)
  local v = redis.call('HMGET', key, 'status', 'queue', 'created_at', 'dedup_key', 'rk', 'expires_at')
  if (claimable(v[1]) or v[1] == 'waiting') and v[6] and tonumber(v[6]) <= now then
    redis.call('HSET', key, 'status', 'expired', 'updated_at', now_s)
    unschedule(id, v[2], v[5])
    move_status(id, v[2], v[1], 'expired', v[3])
    release_dedup(id, v[4])
    report('expired', id)
  end
end
local finished = {}
for _, dep in ipairs(redis.call('SRANDMEMBER', DEPS, cap)) do
  if final(redis.call('HGET', tkey(dep), 'status')) then finished[#finished + 1] = dep end
end
local released, cancelled = resolve(finished, now_s, ARGV[5], woken)
for _, values in ipairs(released) do
  kinds[#kinds + 1] = 'released'
  records[#records + 1] = values
end
for _, values in ipairs(cancelled) do
  kinds[#kinds + 1] = 'dependency_cancelled'
  records[#records + 1] = values
end
for q in pairs(woken) do wake(q) end
return {kinds, tasks_reply(records)}
