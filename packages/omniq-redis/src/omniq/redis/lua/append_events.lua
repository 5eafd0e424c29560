-- Append events to the capped stream and index them by time and by task.
-- ARGV: base, maxlen, then per event: task_id, at, n, and n field/value pairs.
local stream, by_time = P .. ':events', P .. ':ev:at'
local i = 3
while i <= #ARGV do
  local task_id, at, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local first = i + 3
  i = first + 2 * n
  local sid = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, first, i - 1))
  -- The time index names the task too, so that a purge finds the task's index without
  -- reading the (possibly trimmed) stream entry.
  redis.call('ZADD', by_time, at, sid .. ' ' .. task_id)
  redis.call('ZADD', P .. ':ev:t:' .. task_id, at, sid)
end
return 0
