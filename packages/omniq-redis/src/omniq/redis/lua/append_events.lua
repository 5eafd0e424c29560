-- Append events to the capped stream and index them by time and by task.
-- ARGV: base, maxlen, and a msgpack array with per event: task_id, at, field/value array.
local stream, by_time = P .. ':events', P .. ':ev:at'
for _, e in ipairs(cmsgpack.unpack(ARGV[3])) do
  local task_id, at = e[1], e[2]
  local sid = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[2], '*', unpack(e[3]))
  -- The time index names the task too, so that a purge finds the task's index without
  -- reading the (possibly trimmed) stream entry.
  redis.call('ZADD', by_time, at, sid .. ' ' .. task_id)
  redis.call('ZADD', P .. ':ev:t:' .. task_id, at, sid)
end
return 0
