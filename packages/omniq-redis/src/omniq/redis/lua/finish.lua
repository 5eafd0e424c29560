-- Settle attempts whose token is the current lease, and store the results of the accepted ones
-- in the same step. ARGV[2]: the call's id (random, the same when the call is sent again).
-- ARGV[3]: a msgpack array with per outcome: id, token, status, at, due_at|'', error|''.
-- ARGV[4]: a msgpack array with per result: task_id, milliseconds to live|'', expires_at|'';
-- ARGV[5]: packed events about the outcomes|'' (see append_events.lua), written for those this
-- call settles (not for a repeat); ARGV[6]: the event stream's maxlen; ARGV[6 + n]: result n's
-- value. Returns {accepted ids, the accepted final ones tasks wait on}.
--
-- An accepted outcome leaves `settled` = the call id in the task. The same call sent again (its
-- reply was lost) finds the task still in that status with that id and no lease, and reports
-- it accepted again, changing nothing; any other call with the old token is refused. The token
-- need not be kept: a call settles each task once, with the token the task held then.
local call = ARGV[2]
local accepted, waited = {}, {}
local held = {}
local woken = {}
-- The fields read from a running task: all but those an accepted outcome sets (fewer fields
-- read is less work for the script, which runs for every task).
local READ, READ_AT = {}, {}
for i, name in ipairs(FIELDS) do
  if name ~= 'id' and name ~= 'status' and name ~= 'updated_at' and name ~= 'lease_expires_at'
      and name ~= 'error' then
    READ[#READ + 1] = name
    READ_AT[#READ_AT + 1] = i
  end
end

-- Whether this call already settled the task in `status` (the reply of the first send was lost).
local function repeated(id, status)
  local v = read_task(id, {'status', 'settled'})
  if not v[1] then
    local row = final_row(id)
    if not row then return false end
    v = {row[AT.status], row[SETTLED_AT]}
  end
  return v[1] == status and v[2] == call
end

for _, o in ipairs(cmsgpack.unpack(ARGV[3])) do
  local id, token, status, at, due, err = o[1], o[2], o[3], o[4], o[5], o[6]
  local key = tkey(id)
  local values = read_task(id, READ)
  local row = {}
  for j, i in ipairs(READ_AT) do row[i] = values[j] end
  if row[AT.lease_token] and row[AT.lease_token] == token then
    local q = row[AT.queue]
    if due == '' then due = row[AT.due_at] end
    redis.call('ZREM', LEASES, id)
    move_status(id, q, 'running', status, row[AT.created_at])  -- only a running task holds a lease
    if final(status) then
      row[AT.id], row[AT.status], row[AT.updated_at], row[AT.due_at] = id, status, at, due
      row[AT.lease_expires_at], row[AT.error] = false, err ~= '' and err
      release_dedup(id, row[AT.dedup_key])
      if store_final(id, row, call) then waited[#waited + 1] = id end
    else
      local set = {'status', status, 'updated_at', at, 'settled', call, 'due_at', due}
      -- A release (pending) gives back the attempt its claim counted.
      local counted = tonumber(row[AT.attempts])
      if status == 'pending' and counted and counted > 0 then
        set[#set + 1] = 'attempts'
        set[#set + 1] = tostring(counted - 1)
      end
      if err ~= '' then
        set[#set + 1] = 'error'
        set[#set + 1] = err
        redis.call('HDEL', key, 'lease_token', 'lease_expires_at')
      else
        redis.call('HDEL', key, 'lease_token', 'lease_expires_at', 'error')
      end
      redis.call('HSET', key, unpack(set))
      if claimable(status) then
        if row[AT.expires_at] then redis.call('ZADD', TTL, row[AT.expires_at], id) end
        if schedule(id, q, due, row[AT.priority], tonumber(at)) then woken[q] = true end
      end
    end
    accepted[#accepted + 1] = id
    held[id] = true
  elseif not row[AT.lease_token] and repeated(id, status) then
    accepted[#accepted + 1] = id
    if redis.call('SISMEMBER', DEPS_FINAL, id) == 1 then waited[#waited + 1] = id end
  end
end
for n, r in ipairs(cmsgpack.unpack(ARGV[4])) do
  if held[r[1]] then store_result(r[1], ARGV[6 + n], r[2], r[3]) end
end
if ARGV[5] ~= '' then
  local emit, flush = event_writer()
  emit_packed(emit, ARGV[5], held)
  flush(ARGV[6])
end
for q in pairs(woken) do wake(q) end
return {accepted, waited}
