-- Cancel a task not yet final. ARGV: base, id, now. Returns the task as it now is (tasks_reply),
-- nothing if the id is unknown.
local id, now_s = ARGV[2], ARGV[3]
local key = tkey(id)
local v = redis.call('HMGET', key, 'status', 'queue', 'created_at', 'dedup_key', 'rk')
if not v[1] then return {} end
if live(v[1]) then
  redis.call('HSET', key, 'status', 'cancelled', 'updated_at', now_s)
  redis.call('HDEL', key, 'lease_token', 'lease_expires_at')
  unschedule(id, v[2], v[5])
  redis.call('ZREM', LEASES, id)
  redis.call('ZREM', TTL, id)
  move_status(id, v[2], v[1], 'cancelled', v[3])
  release_dedup(id, v[4])
end
return tasks_reply({record(id)})
