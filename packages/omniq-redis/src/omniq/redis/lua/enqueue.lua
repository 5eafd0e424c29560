-- Store new tasks. ARGV[2]: a msgpack array with per task: id, queue, status, due_at, created_at,
-- priority, expires_at|'', dedup_key|'', and an array of field/value pairs for the task hash;
-- ARGV[2 + n]: task n's payload (Redis's cmsgpack reads no binary strings). Returns per task the
-- id now holding its place (see enqueue_one).
local out = {}
local woken = {}
for r, t in ipairs(cmsgpack.unpack(ARGV[2])) do
  out[r] = enqueue_one(t, ARGV[2 + r], woken)
end
for q in pairs(woken) do wake(q) end
return out
