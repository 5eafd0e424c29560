-- Append events to the stream and index them, then trim the stream to about `maxlen` events
-- (see _events.lua). ARGV: base, maxlen, a msgpack array with per event: task_id, at, field/value
-- array; then the batch's digest. A batch sent again (its reply was lost with the connection)
-- finds its digest kept for ten minutes and appends nothing. Returns 1 if it appended.
if not redis.call('SET', P .. ':ev:sent:' .. ARGV[4], '1', 'NX', 'PX', 600000) then return 0 end
local emit, flush = event_writer()
emit_packed(emit, ARGV[3], nil)
flush(ARGV[2])
return 1
