-- Delete the tasks in one status (last changed before a time). ARGV: base, status, before|''.
-- Returns how many. A task changes after it was created, so only tasks created before `before`
-- are read. A final task whose dependents are not resolved yet is kept (the reaper resolves them).
local status, before = ARGV[2], tonumber(ARGV[3])
local purged = 0
for _, q in ipairs(redis.call('SMEMBERS', QUEUES)) do
  local skey = status_key(q, status)
  local ids
  if before then ids = redis.call('ZRANGEBYSCORE', skey, '-inf', '(' .. ARGV[3])
  else ids = redis.call('ZRANGE', skey, 0, -1) end
  for _, id in ipairs(ids) do
    local row, rk = live_row(id)
    if not row[AT.id] then row = record(id) end
    local changed = row[AT.updated_at]
    if (not before or (changed and num(changed, 0) < before))
        and redis.call('SISMEMBER', DEPS_FINAL, id) == 0 then
      unschedule(id, q, rk)
      redis.call('ZREM', LEASES, id)
      redis.call('ZREM', TTL, id)
      release_dedup(id, row[AT.dedup_key])
      redis.call('ZREM', skey, id)
      redis.call('DEL', tkey(id), fkey(id))
      purged = purged + 1
    end
  end
end
return purged
