-- Make a dead, cancelled or expired task pending again with fresh attempts. ARGV: base, id, now,
-- packed events|'' (see append_events.lua) written if this call requeues it, the event stream's
-- maxlen.
-- Returns {1 if requeued else 0, the task as it now is (tasks_reply)}, nothing if the id is unknown. If another live task
-- took its dedup key meanwhile, that task keeps the key and this one runs without.
local id, now_s = ARGV[2], ARGV[3]
local row = record(id)
if not row[AT.id] then return {} end
local q, status = row[AT.queue], row[AT.status]
local changed = 0
if failed(status) then
  changed = 1
  row[AT.status], row[AT.attempts], row[AT.due_at], row[AT.updated_at] = 'pending', '0', now_s, now_s
  row[AT.expires_at], row[AT.error] = false, false
  local key = row[AT.dedup_key]
  if key and redis.call('SET', dedup_key(key), id, 'NX') == false then row[AT.dedup_key] = false end
  redis.call('DEL', tkey(id), fkey(id))
  redis.call('HSET', tkey(id), unpack(hash_fields(row)))
  redis.call('SREM', DEPS_FINAL, id)
  move_status(id, q, status, 'pending', row[AT.created_at])
  schedule(id, q, now_s, row[AT.priority], tonumber(now_s))
  wake(q)
  if ARGV[4] ~= '' then
    local emit, flush = event_writer()
    emit_packed(emit, ARGV[4], nil)
    flush(ARGV[5])
  end
end
return {changed, tasks_reply({row})}
