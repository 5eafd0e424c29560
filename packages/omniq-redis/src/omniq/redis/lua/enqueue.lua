-- Store new tasks. ARGV[2]: a msgpack array with per task: id, queue, status, due_at, created_at,
-- priority, expires_at|'', dedup_key|'', and an array of field/value pairs for the task hash;
-- ARGV[2 + n]: task n's payload (Redis's cmsgpack reads no binary strings). Returns per task the id now holding its place: a live task with the same dedup key
-- wins; an id already stored is left alone, so a retried call stores nothing twice.
local out = {}
local woken = {}
for r, t in ipairs(cmsgpack.unpack(ARGV[2])) do
  local id, q, status, due, created, priority, expires, key = t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8]
  local holder = false
  if key ~= '' then holder = redis.call('GET', dedup_key(key)) end
  if holder then
    out[r] = holder
  elseif redis.call('EXISTS', tkey(id)) == 1 then
    out[r] = id
  else
    redis.call('HSET', tkey(id), 'data', ARGV[2 + r], unpack(t[9]))
    if key ~= '' then redis.call('SET', dedup_key(key), id) end
    redis.call('SADD', QUEUES, q)
    move_status(id, q, false, status, created)
    if expires ~= '' then redis.call('ZADD', TTL, expires, id) end
    if claimable(status) and schedule(id, q, due, priority, tonumber(created)) then
      woken[q] = true
    end
    out[r] = id
  end
end
for q in pairs(woken) do wake(q) end
return out
