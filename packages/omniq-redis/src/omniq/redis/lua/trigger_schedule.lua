-- Claim a schedule's run due at an expected time and store its task, in one step.
-- ARGV: base, schedule id, expected next_run_at, packed run {next_run_at|'', status, runs,
-- last_run_at, last_task_id|''}, packed task item|'' (see enqueue.lua), the task's payload, the
-- dependency-failed error template, packed events|'' (see append_events.lua) written if this call
-- claims the run, the event stream's maxlen.
-- Returns 1 if this call claimed the run, else 0.
local id, expected = ARGV[2], tonumber(ARGV[3])
local key = schedule_key(id)
local v = redis.call('HMGET', key, 'status', 'next_run_at')
if v[1] ~= 'active' or not v[2] or tonumber(v[2]) ~= expected then return 0 end
local run = cmsgpack.unpack(ARGV[4])
local next_run, status, runs, last_run_at, last_task = run[1], run[2], run[3], run[4], run[5]
redis.call('HSET', key, 'status', status, 'runs', runs, 'last_run_at', last_run_at, 'updated_at', last_run_at)
if next_run ~= '' then redis.call('HSET', key, 'next_run_at', next_run) else redis.call('HDEL', key, 'next_run_at') end
if last_task ~= '' then redis.call('HSET', key, 'last_task_id', last_task) else redis.call('HDEL', key, 'last_task_id') end
index_schedule(id, status, next_run)
if ARGV[5] ~= '' then
  local woken = {}
  enqueue_one(cmsgpack.unpack(ARGV[5]), ARGV[6], woken, ARGV[7])
  for q in pairs(woken) do wake(q) end
end
if ARGV[8] ~= '' then
  local emit, flush = event_writer()
  emit_packed(emit, ARGV[8], nil)
  flush(ARGV[9])
end
return 1
