-- Recover expired leases and expire tasks past their TTL, at most `cap` of each per call.
-- Then resolve the dependents of final tasks still holding some (a worker died between finish
-- and resolve_dependencies). ARGV: base, now, lease-expired error, cap, dependency-failed error
-- template. Returns {kinds, tasks (tasks_reply)}: kind per task is 'requeued', 'dead', 'expired',
-- 'released' or 'dependency_cancelled'.
local now_s, now, lease_error, cap = ARGV[2], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local kinds, records = {}, {}
local woken = {}

local function report(kind, row)
  kinds[#kinds + 1] = kind
  records[#records + 1] = row
end

-- Running tasks whose lease ran out: back to pending while attempts remain, else dead.
local leases = redis.call('ZRANGEBYSCORE', LEASES, '-inf', '(' .. now_s, 'LIMIT', 0, cap)
for _, id in ipairs(leases) do
  redis.call('ZREM', LEASES, id)
  local key = tkey(id)
  local row = read_task(id, FIELDS)
  local q, lease_until = row[AT.queue], row[AT.lease_expires_at]
  if row[AT.status] == 'running' and lease_until and num(lease_until, 0) < now then
    if num(row[AT.attempts], 0) >= num(row[AT.max_attempts], 0) then
      move_status(id, q, 'running', 'dead', row[AT.created_at])
      release_dedup(id, row[AT.dedup_key])
      row[AT.id], row[AT.status], row[AT.error], row[AT.updated_at] = id, 'dead', lease_error, now_s
      store_final(id, row, false)
      report('dead', row)
    else
      redis.call('HDEL', key, 'lease_token', 'lease_expires_at')
      redis.call('HSET', key, 'status', 'pending', 'due_at', now_s, 'updated_at', now_s)
      move_status(id, q, 'running', 'pending', row[AT.created_at])
      if row[AT.expires_at] then redis.call('ZADD', TTL, row[AT.expires_at], id) end
      schedule(id, q, now_s, row[AT.priority], now)
      woken[q] = true
      report('requeued', record(id))
    end
  end
end

-- Tasks not started within their TTL. The index holds only tasks that may still start.
local due = redis.call('ZRANGEBYSCORE', TTL, '-inf', now_s, 'LIMIT', 0, cap)
for _, id in ipairs(due) do
  redis.call('ZREM', TTL, id)
  local row, rk = live_row(id)
  local status, expires = row[AT.status], row[AT.expires_at]
  if (claimable(status) or status == 'waiting') and expires and num(expires, 0) <= now then
    unschedule(id, row[AT.queue], rk)
    move_status(id, row[AT.queue], status, 'expired', row[AT.created_at])
    release_dedup(id, row[AT.dedup_key])
    row[AT.status], row[AT.updated_at] = 'expired', now_s
    store_final(id, row, false)
    report('expired', row)
  end
end

-- Final tasks whose dependents were not resolved (their worker stopped in between).
local released, cancelled = resolve(redis.call('SRANDMEMBER', DEPS_FINAL, cap), now_s, ARGV[5], woken)
for _, row in ipairs(released) do report('released', row) end
for _, row in ipairs(cancelled) do report('dependency_cancelled', row) end
for q in pairs(woken) do wake(q) end
return {kinds, tasks_reply(records)}
