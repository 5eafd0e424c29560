-- Shared by every script (prepended to each one). ARGV[1] is the project's key base "{prefix}",
-- a space, the milliseconds a completed, cancelled or expired task's final record lives, a space
-- and those of a dead task's ('-': until purged); KEYS[1] is "{prefix}:seq", declared so that
-- Redis Cluster routes the script to the project's slot. Times travel as the decimal strings
-- Python wrote and are stored unchanged, so no float ever loses digits in Lua (tostring keeps
-- only 14).
local P, RETAIN_MS, DEAD_RETAIN_MS = string.match(ARGV[1], '^(%S+) (%S+) (%S+)$')
RETAIN_MS, DEAD_RETAIN_MS = tonumber(RETAIN_MS), tonumber(DEAD_RETAIN_MS)
local SEQ = KEYS[1]
local QUEUES = P .. ':queues'
local LEASES = P .. ':leases'
local TTL = P .. ':ttl'

local function tkey(id) return P .. ':t:' .. id end
local function ready_key(q) return P .. ':q:' .. q end
local function delayed_key(q) return P .. ':d:' .. q end
local function status_key(q, s) return P .. ':s:' .. q .. ':' .. s end
local function wake_key(q) return P .. ':w:' .. q end
local function dedup_key(k) return P .. ':u:' .. k end

local function claimable(s) return s == 'pending' or s == 'failed' end
-- A stored number, or `default` where anything else wrote the field (see read_task).
local function num(v, default) return tonumber(v) or default end
local function live(s) return s == 'pending' or s == 'failed' or s == 'waiting' or s == 'running' end

-- One token on the queue's wake-up list wakes one idle worker (BLPOP); more are not kept.
local function wake(q)
  redis.call('LPUSH', wake_key(q), '1')
  redis.call('LTRIM', wake_key(q), 0, 0)
end

-- Ready-set member: due time in microseconds and a sequence number, both zero-padded, then the
-- id. Members of one priority (one score) sort by it: earliest due first, then first in.
local function rank(due, seq, id)
  local micros = math.floor(num(due, 0) * 1000000 + 0.5)
  if micros < 0 then micros = 0 end
  return string.format('%016.0f%012.0f', micros, seq) .. id
end
local RANK_ID_START = 29

-- Make a claimable task findable: in the ready set if due by `now`, else in the delayed set.
-- Returns whether it is ready now.
local function schedule(id, q, due, priority, now)
  local seq = redis.call('INCR', SEQ)
  local member = rank(due, seq, id)
  redis.call('HSET', tkey(id), 'seq', seq, 'rk', member)
  if num(due, 0) <= now then
    redis.call('ZADD', ready_key(q), -num(priority, 0), member)
    return true
  end
  redis.call('ZADD', delayed_key(q), due, id)
  return false
end

local function unschedule(id, q, member)
  if member then redis.call('ZREM', ready_key(q), member) end
  redis.call('ZREM', delayed_key(q), id)
end

local function move_status(id, q, from, to, created)
  if from and from ~= 'running' then redis.call('ZREM', status_key(q, from), id) end
  if to ~= 'running' then redis.call('ZADD', status_key(q, to), num(created, 0), id) end
end

-- A final task gives its dedup key back (only if it still holds it).
local function release_dedup(id, key)
  if key and redis.call('GET', dedup_key(key)) == id then
    redis.call('DEL', dedup_key(key))
  end
end

-- Position of each field in a `record` row.
local AT = {}
for i, name in ipairs(FIELDS) do AT[name] = i end
local DATA_AT = AT.data

-- HMGET of `fields` of task `id`'s hash. Anything that can write to the server may have left
-- another type under the key: then every field reads as unset (to the state machine the task is
-- not live) and the second value says what the key holds, instead of an error that would abort
-- the whole script and every task of its batch.
local function read_task(id, fields)
  local row = redis.pcall('HMGET', tkey(id), unpack(fields))
  if row.err == nil then return row, nil end
  local unset = {}
  for i = 1, #fields do unset[i] = false end
  return unset, 'its key ' .. tkey(id) .. ' holds a ' .. redis.call('TYPE', tkey(id)).ok .. ', not a hash'
end

-- Whether any field of `row` is set: a hash that lost its `id` field is still the live task.
local function any_set(row)
  for i = 1, #FIELDS do
    if row[i] then return true end
  end
  return false
end

-- Dependencies: `{p}:dep:<id>` holds the tasks waiting on task <id>, `{p}:deps` the ids that
-- have such a set, `{p}:deps:final` those of them that are final (their dependents wait to be
-- released or cancelled: the reaper's index); a waiting task counts its open dependencies in its
-- `waiting_on` field.
local DEPS = P .. ':deps'
local DEPS_FINAL = P .. ':deps:final'
local function dependents_key(id) return P .. ':dep:' .. id end
-- DEPENDENT_FATE (from the prelude, core's rule) maps each final status to what it does to the
-- tasks waiting on it: 'count_down' (completed) or 'cancel' (the failed statuses).
local function failed(s) return DEPENDENT_FATE[s] == 'cancel' end
local function final(s) return DEPENDENT_FATE[s] ~= nil end

-- Whether tasks wait on task `id` (`{p}:deps` is looked up once per script call while absent).
local deps_exist = nil
local function has_dependents(id)
  if deps_exist == nil then deps_exist = redis.call('EXISTS', DEPS) == 1 end
  return deps_exist and redis.call('SISMEMBER', DEPS, id) == 1
end

-- A live task is a hash `{p}:t:<id>` (fields changed one at a time). A final one (completed,
-- dead, cancelled, expired) is its `record` row packed (msgpack) in a string `{p}:f:<id>`, without
-- its id (the key names it) and lease, plus the finish call that settled it: the payload is
-- longer than hash-max-listpack-value (64 bytes) for most tasks, which makes a hash a hashtable of
-- separately allocated fields, about four times the room of the packed row.
local function fkey(id) return P .. ':f:' .. id end
local SETTLED_AT = #FIELDS + 1

-- A final task's packed row with its id and `settled` marker (at SETTLED_AT), or nil.
local function final_row(id)
  local packed = redis.call('GET', fkey(id))
  if not packed then return nil end
  local row = cmsgpack.unpack(packed)
  row[AT.id] = id
  return row
end

-- Store `row` (a full `record` row) as task `id`'s final record in place of its hash. `settled`
-- is the finish call's marker or false. Returns whether tasks wait on it (then it is indexed in
-- `{p}:deps:final` until they are resolved). The record expires after the retention of its
-- status, except while tasks wait on it: the retention purge deletes it once they are resolved.
local function store_final(id, row, settled)
  row[AT.id], row[AT.lease_token], row[AT.lease_expires_at] = false, false, false
  row[SETTLED_AT] = settled
  local waited = has_dependents(id)
  local keep = RETAIN_MS
  if row[AT.status] == 'dead' then keep = DEAD_RETAIN_MS end
  if keep and not waited then
    redis.call('SET', fkey(id), cmsgpack.pack(row), 'PX', keep)
  else
    redis.call('SET', fkey(id), cmsgpack.pack(row))
  end
  redis.call('DEL', tkey(id))
  row[AT.id], row[SETTLED_AT] = id, nil
  if waited then redis.call('SADD', DEPS_FINAL, id) end
  return waited
end

-- The hash fields of a `record` row (unset ones left out).
local function hash_fields(row)
  local fields = {}
  for i, name in ipairs(FIELDS) do
    if row[i] then
      fields[#fields + 1] = name
      fields[#fields + 1] = row[i]
    end
  end
  return fields
end

-- A task's fields in FIELDS order, live or final (`false` where unset; all false if unknown).
-- A key that holds no hash gives a row with only the id and, as `error`, what the key holds: a
-- row core reports as unreadable.
local function record(id)
  local row, wrong = read_task(id, FIELDS)
  if any_set(row) then
    row[AT.id] = id
    return row
  end
  local packed = final_row(id)
  if packed then
    packed[SETTLED_AT] = nil
    return packed
  end
  if wrong then row[AT.id], row[AT.error] = id, wrong end
  return row
end

-- A live task's row and its ready-set member (`rk`).
local WITH_RK = {unpack(FIELDS)}
WITH_RK[#WITH_RK + 1] = 'rk'
local RK_AT = #WITH_RK
local function live_row(id)
  local row = read_task(id, WITH_RK)
  local rk = row[RK_AT]
  row[RK_AT] = nil
  if any_set(row) then row[AT.id] = id end
  return row, rk
end

local function status_of(id)
  local status = read_task(id, {'status'})[1]
  if status then return status end
  local row = final_row(id)
  return row and row[AT.status]
end

local function known(id)
  return redis.call('EXISTS', tkey(id), fkey(id)) > 0
end

-- Tasks (`record` rows) as scripts return them: every field but `data` of every task packed into
-- one msgpack string, then each task's `data` as a reply of its own. Parsing one bulk reply per
-- field was most of a claim's cost in the client. Payloads stay apart because cmsgpack writes
-- every Lua string as msgpack text, which a binary payload is not. Takes the rows apart: call it
-- last, once per row.
local function tasks_reply(rows)
  if #rows == 0 then return {} end
  local out = {false}
  for i, row in ipairs(rows) do
    out[i + 1] = row[DATA_AT] or ''
    row[DATA_AT] = false
  end
  out[1] = cmsgpack.pack(rows)
  return out
end

-- Wake whoever waits for this task's result (see _waits.py): a token on its notify list, pushed
-- only if the task is in the waiters index; that index is read once per script call while empty.
local WAITERS = P .. ':rw'
local anyone_waits = nil
local function notify_waiters(task_id)
  if anyone_waits == nil then anyone_waits = redis.call('EXISTS', WAITERS) == 1 end
  if anyone_waits and redis.call('ZREM', WAITERS, task_id) == 1 then
    local key = P .. ':n:' .. task_id
    redis.call('LPUSH', key, '1')
    redis.call('PEXPIRE', key, NOTIFY_TTL_MS)
  end
end

-- Store one result (milliseconds to live and expiry '' when it never expires): the value expires
-- natively (PX); the expiry index lets purge_results count it. Wakes the result's waiters.
local function store_result(task_id, value, millis, expires)
  local key, index = P .. ':r:' .. task_id, P .. ':rx'
  if millis == '' then
    redis.call('SET', key, value)
    redis.call('ZREM', index, task_id)
  else
    redis.call('SET', key, value, 'PX', millis)
    redis.call('ZADD', index, expires, task_id)
  end
  notify_waiters(task_id)
end

-- `template` is dependency_failed_error('@DEP@', '@STATUS@') as core writes it.
local function failed_error(template, dep, status)
  return (string.gsub(string.gsub(template, '@DEP@', dep), '@STATUS@', status))
end

-- The status a new task starts in given its dependencies (and, when cancelled, why), plus the
-- dependencies still open.
local function start_status(status, deps, template)
  if not deps or #deps == 0 then return status, false, {} end
  local open, seen = {}, {}
  for _, d in ipairs(deps) do
    if not seen[d] then
      seen[d] = true
      local ds = status_of(d)
      if failed(ds) then return 'cancelled', failed_error(template, d, ds), {} end
      if not final(ds) then open[#open + 1] = d end
    end
  end
  if #open == 0 then return 'pending', false, open end
  return 'waiting', false, open
end

-- Store one new task (see enqueue.lua for `t`) unless a live task holds its dedup key or its id is
-- already stored (a retried call stores nothing twice). Returns the id now holding its place and
-- whether this call stored it; marks its queue in `woken` if it is claimable now.
local function enqueue_one(t, data, woken, template)
  local id, q, due, created, priority, expires, key = t[1], t[2], t[4], t[5], t[6], t[7], t[8]
  if key ~= '' then
    local holder = redis.call('GET', dedup_key(key))
    if holder then return holder, false end
  end
  if known(id) then return id, false end
  local status, err, open = start_status(t[3], t[10], template)
  redis.call('HSET', tkey(id), 'data', data, unpack(t[9]))
  redis.call('HSET', tkey(id), 'status', status)
  if err then redis.call('HSET', tkey(id), 'error', err) end
  for _, d in ipairs(open) do
    redis.call('SADD', dependents_key(d), id)
    redis.call('SADD', DEPS, d)
    deps_exist = true
  end
  if #open > 0 then redis.call('HSET', tkey(id), 'waiting_on', #open) end
  redis.call('SADD', QUEUES, q)
  move_status(id, q, false, status, created)
  if live(status) then
    if key ~= '' then redis.call('SET', dedup_key(key), id) end
    if expires ~= '' then redis.call('ZADD', TTL, expires, id) end
  elseif final(status) then
    store_final(id, redis.call('HMGET', tkey(id), unpack(FIELDS)), false)
  end
  if claimable(status) and schedule(id, q, due, priority, tonumber(created)) then
    woken[q] = true
  end
  return id, true
end

-- Apply the final status of `ids` to the tasks waiting on them, and so on down the graph.
-- Returns the released and the cancelled tasks' fields.
local function resolve(ids, now_s, template, woken)
  local released, cancelled = {}, {}
  local stack = {}
  for _, id in ipairs(ids) do stack[#stack + 1] = id end
  while #stack > 0 do
    local dep = table.remove(stack)
    local ds = status_of(dep)
    if final(ds) then
      redis.call('SREM', DEPS_FINAL, dep)
      local waiting = redis.call('SMEMBERS', dependents_key(dep))
      if #waiting > 0 then
        redis.call('DEL', dependents_key(dep))
        redis.call('SREM', DEPS, dep)
      end
      table.sort(waiting)
      for _, w in ipairs(waiting) do
        local key = tkey(w)
        local v = read_task(w, {'status', 'queue', 'created_at', 'priority', 'due_at', 'dedup_key'})
        if v[1] == 'waiting' then
          if DEPENDENT_FATE[ds] == 'count_down' then
            if redis.call('HINCRBY', key, 'waiting_on', -1) <= 0 then
              redis.call('HDEL', key, 'waiting_on')
              redis.call('HSET', key, 'status', 'pending', 'updated_at', now_s)
              move_status(w, v[2], 'waiting', 'pending', v[3])
              if schedule(w, v[2], v[5], v[4], tonumber(now_s)) then woken[v[2]] = true end
              released[#released + 1] = record(w)
            end
          else
            local row = record(w)
            row[AT.status], row[AT.updated_at] = 'cancelled', now_s
            row[AT.error] = failed_error(template, dep, ds)
            move_status(w, v[2], 'waiting', 'cancelled', v[3])
            redis.call('ZREM', TTL, w)
            release_dedup(w, v[6])
            store_final(w, row, false)
            cancelled[#cancelled + 1] = row
            stack[#stack + 1] = w
          end
        end
      end
    end
  end
  return released, cancelled
end

local SCHEDULES_DUE = P .. ':sch:due'
local function schedule_key(id) return P .. ':sch:' .. id end

-- Keep the due index in step with a schedule's status and next run.
local function index_schedule(id, status, next_run)
  if status == 'active' and next_run ~= '' then
    redis.call('ZADD', SCHEDULES_DUE, next_run, id)
  else
    redis.call('ZREM', SCHEDULES_DUE, id)
  end
end

local function schedule_record(id)
  return redis.call('HMGET', schedule_key(id), unpack(SCHEDULE_FIELDS))
end
