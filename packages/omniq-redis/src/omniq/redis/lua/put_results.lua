-- Store or replace results. ARGV[2]: a msgpack array with per result: task_id, milliseconds to
-- live|'', expires_at|''; ARGV[2 + n]: result n's value (cmsgpack reads no binary strings).
for n, r in ipairs(cmsgpack.unpack(ARGV[2])) do
  store_result(r[1], ARGV[2 + n], r[2], r[3])
end
return 0
