-- Delete the tasks in one status (last changed before a time). ARGV: base, status, before|''.
-- Returns how many.
local status, before = ARGV[2], tonumber(ARGV[3])
local purged = 0
for _, q in ipairs(redis.call('SMEMBERS', QUEUES)) do
  local skey = status_key(q, status)
  for _, id in ipairs(redis.call('ZRANGE', skey, 0, -1)) do
    local key = tkey(id)
    local v = redis.call('HMGET', key, 'updated_at', 'rk', 'dedup_key')
    if not before or (v[1] and tonumber(v[1]) < before) then
      unschedule(id, q, v[2])
      redis.call('ZREM', LEASES, id)
      redis.call('ZREM', TTL, id)
      release_dedup(id, v[3])
      redis.call('ZREM', skey, id)
      redis.call('DEL', key)
      purged = purged + 1
    end
  end
end
return purged
