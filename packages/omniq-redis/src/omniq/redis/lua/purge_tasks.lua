-- Delete the tasks in one status (last changed before a time), at most `limit` of them.
-- ARGV: base, status, before|'', limit|''. Returns how many. A task changes after it was created,
-- so only tasks created before `before` are read, oldest first, and at most four times `limit`
-- of them per queue, so that one call stays short however many match. The budget is each queue's
-- own: a queue whose oldest entries must all be kept cannot use up the reads of the queues after
-- it (which would then never be purged). A final task whose dependents are not resolved yet is
-- kept (the reaper resolves them). An index entry whose task is gone (its final record expired)
-- is removed and counted.
local status, before, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local PAGE = 100
local purged = 0
for _, q in ipairs(redis.call('SMEMBERS', QUEUES)) do
  local skey = status_key(q, status)
  -- Entries kept stay in the index, in front of the ones not read yet.
  local kept = 0
  local budget = limit and limit * 4
  while not limit or (purged < limit and budget > 0) do
    local count = limit and math.min(PAGE, budget) or PAGE
    local ids
    if before then ids = redis.call('ZRANGEBYSCORE', skey, '-inf', '(' .. ARGV[3], 'LIMIT', kept, count)
    else ids = redis.call('ZRANGE', skey, kept, kept + count - 1) end
    if #ids == 0 then break end
    if budget then budget = budget - #ids end
    for _, id in ipairs(ids) do
      if limit and purged >= limit then break end
      local row, rk = live_row(id)
      if not row[AT.id] then row = record(id) end
      local changed = row[AT.updated_at]
      if not row[AT.id] then
        redis.call('ZREM', skey, id)
        purged = purged + 1
      elseif (not before or (changed and num(changed, 0) < before))
          and redis.call('SISMEMBER', DEPS_FINAL, id) == 0 then
        unschedule(id, q, rk)
        redis.call('ZREM', LEASES, id)
        redis.call('ZREM', TTL, id)
        release_dedup(id, row[AT.dedup_key])
        redis.call('ZREM', skey, id)
        redis.call('DEL', tkey(id), fkey(id))
        purged = purged + 1
      else
        kept = kept + 1
      end
    end
  end
  if limit and purged >= limit then break end
end
return purged
