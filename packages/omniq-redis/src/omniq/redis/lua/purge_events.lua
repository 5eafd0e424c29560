-- Delete events older than a time, at most `cap` per call. ARGV: base, before, cap.
-- Returns {index entries removed, stream entries deleted}.
local stream, by_time = P .. ':events', P .. ':ev:at'
local members = redis.call('ZRANGEBYSCORE', by_time, '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local deleted = 0
for _, member in ipairs(members) do
  local sid, task_id = string.match(member, '^([^ ]+) (.*)$')
  deleted = deleted + redis.call('XDEL', stream, sid)
  redis.call('ZREM', P .. ':ev:t:' .. task_id, sid)
  redis.call('ZREM', by_time, member)
end
return {#members, deleted}
