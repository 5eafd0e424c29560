-- Move a schedule whose status is one of the given ones. ARGV: base, id, status,
-- next_run_at|'', now, allowed statuses... Returns {1 if changed else 0, the schedule's fields as
-- they now are}, or nil.
local id, status, next_run, now_s = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = schedule_key(id)
local current = redis.call('HGET', key, 'status')
if not current then return nil end
local changed = 0
for i = 6, #ARGV do
  if ARGV[i] == current then
    changed = 1
    redis.call('HSET', key, 'status', status, 'updated_at', now_s)
    if next_run ~= '' then redis.call('HSET', key, 'next_run_at', next_run) else redis.call('HDEL', key, 'next_run_at') end
    index_schedule(id, status, next_run)
    break
  end
end
return {changed, schedule_record(id)}
