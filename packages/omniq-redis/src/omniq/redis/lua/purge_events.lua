-- Delete events older than a time with their index entries, at most `cap` of each kind per call.
-- ARGV: base, before, cap, stream id to go on from|''. Returns {1 if there may be more, events
-- deleted, stream id to go on from}.
local before, cap = tonumber(ARGV[2]), tonumber(ARGV[3])
local doomed = {}
-- Out of step: the time index says which.
local late = redis.call('ZRANGEBYSCORE', OUT_OF_STEP, '-inf', '(' .. ARGV[2], 'LIMIT', 0, cap)
for _, sid in ipairs(late) do
  local entry = redis.call('XRANGE', STREAM, sid, sid)[1]
  if entry then
    doomed[#doomed + 1] = entry
  else
    redis.call('ZREM', OUT_OF_STEP, sid)
    redis.call('ZREM', OUT_OF_STEP_BY_ID, sid)
  end
end
-- In step: events that arrived before `before` + LATE_MS, oldest first.
local start = ARGV[4] ~= '' and ARGV[4] or '-'
local high = string.format('%.0f', math.ceil(before * 1000 + LATE_MS))
local entries = redis.call('XRANGE', STREAM, start, high, 'COUNT', cap)
for _, entry in ipairs(entries) do
  local at = tonumber(field(entry[2], 'at'))
  if at < before and in_step(sid_parts(entry[1]), at) then doomed[#doomed + 1] = entry end
end
unindex(doomed)
local deleted = 0
for _, entry in ipairs(doomed) do deleted = deleted + redis.call('XDEL', STREAM, entry[1]) end
local go_on = ARGV[4]
if #entries > 0 then go_on = next_sid(entries[#entries][1]) end
local more = (#late == cap or #entries == cap) and 1 or 0
return {more, deleted, go_on}
