-- Lease up to `limit` due tasks, earlier queues first, each queue in claim order.
-- ARGV: base, now, limit, lease_token, lease_expires_at, worker_id, promote_cap, the unreadable-
-- task error template, '1' to write each claimed task's `executing` event (see
-- records.executing_event) else '0', the event stream's maxlen, queue...
-- Returns the claimed tasks (tasks_reply).
--
-- Fields anything else wrote are leased as they are (core reads the claimed rows and sends those it
-- cannot read to dead through finish); a key that holds no hash is sent to dead here.
local now_s, now = ARGV[2], tonumber(ARGV[2])
local limit, token, expires_at, worker = tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local cap = tonumber(ARGV[7])
local unreadable_template = ARGV[8]
local emit, flush = nil, nil
if ARGV[9] == '1' then emit, flush = event_writer() end
local FIRST_QUEUE = 11
local out = {}
local taken = 0

-- Delayed tasks now due join the ready set.
local function promote(q)
  local due = redis.call('ZRANGEBYSCORE', delayed_key(q), '-inf', now_s, 'LIMIT', 0, cap)
  for _, id in ipairs(due) do
    redis.call('ZREM', delayed_key(q), id)
    local v = read_task(id, {'status', 'priority', 'rk'})
    if claimable(v[1]) and v[3] then
      redis.call('ZADD', ready_key(q), -num(v[2], 0), v[3])
    end
  end
end

local function lease(id, q, row)
  -- A hash that lost its queue field is in this queue's ready set: it belongs here.
  if not row[AT.queue] then
    redis.call('HSET', tkey(id), 'queue', q)
    row[AT.queue] = q
  end
  local counted = tonumber(row[AT.attempts])
  local attempts = counted and tostring(counted + 1) or row[AT.attempts]
  redis.call('HSET', tkey(id), 'status', 'running', 'attempts', attempts, 'lease_token', token,
    'lease_expires_at', expires_at, 'worker_id', worker, 'updated_at', now_s)
  redis.call('ZADD', LEASES, expires_at, id)
  if row[AT.expires_at] then redis.call('ZREM', TTL, id) end
  move_status(id, q, row[AT.status], 'running', row[AT.created_at])
  row[AT.status], row[AT.attempts], row[AT.lease_token] = 'running', attempts, token
  row[AT.lease_expires_at], row[AT.worker_id], row[AT.updated_at] = expires_at, worker, now_s
  row[AT.id], row[RK_AT] = id, nil
  if emit then
    local fields = {'type', 'executing', 'task_id', id, 'at', now_s, 'details', '{}', 'queue', q,
      'worker_id', worker}
    if tonumber(attempts) then
      fields[#fields + 1] = 'attempt'
      fields[#fields + 1] = attempts
    end
    emit(id, now_s, fields)
  end
  taken = taken + 1
  out[taken] = row
end

-- A ready task whose key holds no hash: its key is kept aside as `{p}:corrupt:<id>` and the task
-- goes to dead with what is known of it (id, queue) and why.
local function bury(id, q, why)
  redis.call('RENAME', tkey(id), P .. ':corrupt:' .. id)
  local reason = cjson.encode(why .. '; it is kept as ' .. P .. ':corrupt:' .. id)
  reason = string.sub(reason, 2, #reason - 1)
  local row = {}
  for i = 1, #FIELDS do row[i] = false end
  row[AT.queue], row[AT.func], row[AT.priority], row[AT.status] = q, '', '0', 'dead'
  row[AT.due_at], row[AT.created_at], row[AT.updated_at] = now_s, now_s, now_s
  row[AT.attempts], row[AT.max_attempts] = '0', '0'
  row[AT.error] = string.gsub(unreadable_template, '@REASON@', function() return reason end)
  redis.call('ZREM', status_key(q, 'pending'), id)
  redis.call('ZREM', status_key(q, 'failed'), id)
  redis.call('ZREM', TTL, id)
  move_status(id, q, false, 'dead', now_s)
  store_final(id, row, false)
end

for qi = FIRST_QUEUE, #ARGV do
  if taken >= limit then break end
  local q = ARGV[qi]
  promote(q)
  while taken < limit do
    local popped = redis.call('ZPOPMIN', ready_key(q), limit - taken)
    if #popped == 0 then break end
    for j = 1, #popped, 2 do
      local member = popped[j]
      local id = string.sub(member, RANK_ID_START)
      -- Its fields and ready-set member, read once: the leased row is returned as written.
      local row, wrong = read_task(id, WITH_RK)
      if not wrong and not row[AT.status] and row[RK_AT] == member then
        wrong = 'its hash ' .. tkey(id) .. ' has no status field'
      end
      local expires = row[AT.expires_at]
      -- A task past its TTL is left to reap(), which reports it as expired.
      if row[RK_AT] == member and claimable(row[AT.status]) and not (expires and num(expires, math.huge) <= now) then
        lease(id, q, row)
      elseif wrong and redis.call('EXISTS', fkey(id)) == 0 then
        bury(id, q, wrong)
      end
    end
  end
end

if flush then flush(ARGV[10]) end

-- A full claim may leave work behind: wake another idle worker for it.
if taken >= limit then
  for qi = FIRST_QUEUE, #ARGV do
    if redis.call('ZCARD', ready_key(ARGV[qi])) > 0 then
      wake(ARGV[qi])
      break
    end
  end
end
return tasks_reply(out)
