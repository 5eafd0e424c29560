-- Cancel a task not yet final. ARGV: base, id, now. Returns {1 if cancelled else 0, the task as it
-- now is (tasks_reply)}, nothing if the id is unknown. A running task's id is pushed to its worker's
-- cancel list ({p}:x:<worker id>), which the worker blocks on (see _waits.py).
local id, now_s = ARGV[2], ARGV[3]
local row, rk = live_row(id)
if not row[AT.id] then
  row = record(id)
  if not row[AT.id] then return {} end
end
local q, status = row[AT.queue], row[AT.status]
local changed = 0
if live(status) then
  changed = 1
  unschedule(id, q, rk)
  redis.call('ZREM', LEASES, id)
  redis.call('ZREM', TTL, id)
  move_status(id, q, status, 'cancelled', row[AT.created_at])
  if status == 'running' and row[AT.worker_id] then
    local cancels = P .. ':x:' .. row[AT.worker_id]
    redis.call('RPUSH', cancels, id)
    redis.call('PEXPIRE', cancels, NOTIFY_TTL_MS)
  end
  release_dedup(id, row[AT.dedup_key])
  row[AT.status], row[AT.updated_at] = 'cancelled', now_s
  store_final(id, row, false)
end
return {changed, tasks_reply({row})}
