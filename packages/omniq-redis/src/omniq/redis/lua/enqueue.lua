-- Store new tasks. ARGV[2]: a msgpack array with per task: id, queue, status, due_at, created_at,
-- priority, expires_at|'', dedup_key|'', an array of field/value pairs for the task hash, and
-- the ids it depends on. ARGV[3]: packed ids that must exist (every dependency of the whole
-- batch); ARGV[4]: the dependency-failed error template; ARGV[5]: packed events about these
-- tasks|'' (see append_events.lua), written for the tasks this call stores; ARGV[6]: the event
-- stream's maxlen; ARGV[6 + n]: task n's payload (Redis's cmsgpack reads no binary strings).
-- Returns {1, ids now holding each place (see enqueue_one)}, or {0, unknown ids} and stores
-- nothing.
local unknown = {}
for _, d in ipairs(cmsgpack.unpack(ARGV[3])) do
  if not known(d) then unknown[#unknown + 1] = d end
end
if #unknown > 0 then return {0, unknown} end
local out = {}
local woken = {}
local stored = {}
for r, t in ipairs(cmsgpack.unpack(ARGV[2])) do
  local holder, new = enqueue_one(t, ARGV[6 + r], woken, ARGV[4])
  out[r] = holder
  if new then stored[holder] = true end
end
for q in pairs(woken) do wake(q) end
if ARGV[5] ~= '' then
  local emit, flush = event_writer()
  emit_packed(emit, ARGV[5], stored)
  flush(ARGV[6])
end
return {1, out}
