-- Store or replace results. ARGV[2]: a msgpack array with per result: task_id, milliseconds to
-- live|'', expires_at|''; ARGV[2 + n]: result n's value (cmsgpack reads no binary strings). Values expire natively (PX); the expiry index lets
-- purge_results count them.
local index = P .. ':rx'
for n, r in ipairs(cmsgpack.unpack(ARGV[2])) do
  local key = P .. ':r:' .. r[1]
  if r[2] == '' then
    redis.call('SET', key, ARGV[2 + n])
    redis.call('ZREM', index, r[1])
  else
    redis.call('SET', key, ARGV[2 + n], 'PX', r[2])
    redis.call('ZADD', index, r[3], r[1])
  end
end
return 0
