-- Make a dead, cancelled or expired task pending again with fresh attempts. ARGV: base, id, now.
-- Returns the task as it now is (tasks_reply), nothing if the id is unknown. If another live task
-- took its dedup key meanwhile, that task keeps the key and this one runs without.
local id, now_s = ARGV[2], ARGV[3]
local key = tkey(id)
local v = redis.call('HMGET', key, 'status', 'queue', 'created_at', 'dedup_key', 'priority')
if not v[1] then return {} end
if v[1] == 'dead' or v[1] == 'cancelled' or v[1] == 'expired' then
  redis.call('HSET', key, 'status', 'pending', 'attempts', 0, 'due_at', now_s, 'updated_at', now_s)
  redis.call('HDEL', key, 'expires_at', 'error')
  if v[4] then
    if redis.call('SET', dedup_key(v[4]), id, 'NX') == false then
      redis.call('HDEL', key, 'dedup_key')
    end
  end
  move_status(id, v[2], v[1], 'pending', v[3])
  schedule(id, v[2], now_s, v[5], tonumber(now_s))
  wake(v[2])
end
return tasks_reply({record(id)})
