-- Store new tasks. ARGV: base, count, then per task: id, queue, status, due_at, created_at,
-- priority, expires_at|'', dedup_key|'', n, and n field/value pairs for the task hash.
-- Returns per task the id now holding its place (a live task with the same dedup key wins;
-- an id already stored is left alone, so a retried call stores nothing twice).
local out = {}
local woken = {}
local i = 3
for r = 1, tonumber(ARGV[2]) do
  local id, q, status, due, created = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local priority, expires, key = ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  local n = tonumber(ARGV[i + 8])
  local first = i + 9
  i = first + 2 * n
  local holder = false
  if key ~= '' then holder = redis.call('GET', dedup_key(key)) end
  if holder then
    out[r] = holder
  elseif redis.call('EXISTS', tkey(id)) == 1 then
    out[r] = id
  else
    redis.call('HSET', tkey(id), unpack(ARGV, first, i - 1))
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
