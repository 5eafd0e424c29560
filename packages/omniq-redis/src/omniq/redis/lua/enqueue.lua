-- Store new tasks. ARGV[2]: a msgpack array with per task: id, queue, status, due_at, created_at,
-- priority, expires_at|'', dedup_key|'', an array of field/value pairs for the task hash, and
-- the ids it depends on. ARGV[3]: packed ids that must exist (every dependency of the whole
-- batch); ARGV[4]: the dependency-failed error template; ARGV[4 + n]: task n's payload (Redis's
-- cmsgpack reads no binary strings). Returns {1, ids now holding each place (see enqueue_one)},
-- or {0, unknown ids} and stores nothing.
local unknown = {}
for _, d in ipairs(cmsgpack.unpack(ARGV[3])) do
  if not known(d) then unknown[#unknown + 1] = d end
end
if #unknown > 0 then return {0, unknown} end
local out = {}
local woken = {}
for r, t in ipairs(cmsgpack.unpack(ARGV[2])) do
  out[r] = enqueue_one(t, ARGV[4 + r], woken, ARGV[4])
end
for q in pairs(woken) do wake(q) end
return {1, out}
