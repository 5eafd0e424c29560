-- Settle attempts whose token is the current lease, and store the results of the accepted ones
-- in the same step. ARGV[2]: the call's id (random, the same when the call is sent again).
-- ARGV[3]: a msgpack array with per outcome: id, token, status, at, due_at|'', error|''.
-- ARGV[4]: a msgpack array with per result: task_id, milliseconds to live|'', expires_at|'';
-- ARGV[4 + n]: result n's value. Returns {accepted ids, the accepted final ones nothing waits on}.
--
-- An accepted outcome leaves `settled` = "<token> <call id>" in the task. The same call sent again
-- (its reply was lost) finds the task still in that status with that marker and reports it
-- accepted again, changing nothing; any other call with the old token is refused.
local call = ARGV[2]
local accepted, unwaited = {}, {}
local held = {}
local woken = {}
local any_dependents = redis.call('EXISTS', DEPS) == 1
for _, o in ipairs(cmsgpack.unpack(ARGV[3])) do
  local id, token, status, at, due, err = o[1], o[2], o[3], o[4], o[5], o[6]
  local key = tkey(id)
  local v = redis.call('HMGET', key, 'lease_token', 'status', 'queue', 'created_at', 'dedup_key',
    'priority', 'due_at', 'expires_at', 'settled')
  local marker = token .. ' ' .. call
  if v[1] and v[1] == token then
    local q = v[3]
    local set = {'status', status, 'updated_at', at, 'settled', marker}
    if due ~= '' then
      set[#set + 1] = 'due_at'
      set[#set + 1] = due
    else
      due = v[7]
    end
    if err ~= '' then
      set[#set + 1] = 'error'
      set[#set + 1] = err
      redis.call('HDEL', key, 'lease_token', 'lease_expires_at')
    else
      redis.call('HDEL', key, 'lease_token', 'lease_expires_at', 'error')
    end
    redis.call('HSET', key, unpack(set))
    redis.call('ZREM', LEASES, id)
    move_status(id, q, v[2], status, v[4])
    if claimable(status) then
      if v[8] then redis.call('ZADD', TTL, v[8], id) end
      if schedule(id, q, due, v[6], tonumber(at)) then woken[q] = true end
    elseif not live(status) then
      release_dedup(id, v[5])
      if not (any_dependents and redis.call('SISMEMBER', DEPS, id) == 1) then
        unwaited[#unwaited + 1] = id
      end
    end
    accepted[#accepted + 1] = id
    held[id] = true
  elseif not v[1] and v[2] == status and v[9] == marker then
    accepted[#accepted + 1] = id
  end
end
for n, r in ipairs(cmsgpack.unpack(ARGV[4])) do
  if held[r[1]] then store_result(r[1], ARGV[4 + n], r[2], r[3]) end
end
for q in pairs(woken) do wake(q) end
return {accepted, unwaited}
