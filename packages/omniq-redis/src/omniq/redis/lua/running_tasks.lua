-- The running tasks: the members of the lease index. ARGV: base. Returns a msgpack array of
-- {queue, created_at, id}.
local out = {}
for _, id in ipairs(redis.call('ZRANGE', LEASES, 0, -1)) do
  local v = read_task(id, {'queue', 'created_at', 'status'})
  if v[3] == 'running' then out[#out + 1] = {v[1], v[2], id} end
end
return cmsgpack.pack(out)
