-- Shared by the event scripts (after _common.lua). Events live in the stream `{p}:events`, whose
-- ids are the server's arrival times: nearly every event arrives within a moment of its own time
-- `at`, so the stream, read by id, is already the index by time. Only events that arrived more
-- than LATE_MS after `at`, or more than EARLY_MS before it (a late write, a skewed clock, an
-- explicit time), are "out of step": those are indexed by `at` in `{p}:ev:at` and by arrival in
-- `{p}:ev:at:sid` (member: stream id, in both). A time range [since, until) is then the stream's
-- ids [since - EARLY_MS, until + LATE_MS] read for the events in step, plus `{p}:ev:at`'s range.
--
-- Per task, `{p}:ev:task:<hhh>` (hhh: the first 3 hex digits of the SHA-1 of the task id, 4,096
-- hashes) maps each task id to its events' stream ids in arrival order, 10 bytes each
-- (milliseconds in 6, sequence in 4), up to SPILL_AT of them: hashes of a few hundred fields of at
-- most 60 bytes stay listpacks, about 60 bytes per task instead of a sorted set key of its own
-- (about 230). A task with more events (retries; a schedule's id) has them in a sorted set of its
-- own, `{p}:ev:t:<id>` (member: stream id, score: its milliseconds), and SPILLED as its value in
-- the hash, so that no append copies a long value.
--
-- Index entries go with their events. Purged events take theirs along (the purge reads them).
-- The stream is trimmed by whole nodes (`XTRIM MAXLEN ~`) without reading what goes; the same
-- script then drops the out-of-step entries older than the stream's first id, and sweeps
-- SWEEPS_PER_MAXLEN * 4,096 task-index hashes per `maxlen` events trimmed (round robin, from
-- `{p}:ev:sweep`, dropping the ids older than the stream's first): the task indexes hold the ids
-- of at most about twice `maxlen` events (1.5 times on average). Reading every trimmed entry to
-- take its ids out at once cost about 4 us per event; a sweep costs about a tenth of that.
local STREAM = P .. ':events'
local OUT_OF_STEP = P .. ':ev:at'
local OUT_OF_STEP_BY_ID = P .. ':ev:at:sid'
local SWEEP_NEXT = P .. ':ev:sweep'
local LATE_MS, EARLY_MS = 10000, 2000
local SID_BYTES = 10
local SPILL_AT = 6
local SPILLED = '*'
local TASK_INDEXES = 4096
local SWEEPS_PER_MAXLEN = 1

local function sid_parts(sid)
  local ms, seq = string.match(sid, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end

local function in_step(ms, at)
  local t = at * 1000
  return t >= ms - LATE_MS and t <= ms + EARLY_MS
end

local function task_index(task_id)
  return P .. ':ev:task:' .. string.sub(redis.sha1hex(task_id), 1, 3)
end

local function own_index(task_id)
  return P .. ':ev:t:' .. task_id
end

local function packed_sid(sid)
  local ms, seq = sid_parts(sid)
  return struct.pack('>I6I4', ms, seq)
end

-- The stream ids packed in a task's index value.
local function unpacked_sids(packed)
  local sids = {}
  for i = 1, #packed, SID_BYTES do
    local ms, seq = struct.unpack('>I6I4', packed, i)
    sids[#sids + 1] = string.format('%.0f-%.0f', ms, seq)
  end
  return sids
end

local function field(fields, name)
  for j = 1, #fields, 2 do
    if fields[j] == name then return fields[j + 1] end
  end
end

-- The id the stream orders right after `sid` (XRANGE's exclusive '(' is Redis 6.2+).
local function next_sid(sid)
  local ms, seq = sid_parts(sid)
  return string.format('%.0f-%.0f', ms, seq + 1)
end

-- Stream ids grouped by task: `add(task_id, sid)` for each, then `each(f)` calls f(task_id, sids)
-- once per task (in first-seen order, so replicas apply the same writes).
local function by_task()
  local groups, order = {}, {}
  local function add(task_id, sid)
    local sids = groups[task_id]
    if not sids then
      sids = {}
      groups[task_id] = sids
      order[#order + 1] = task_id
    end
    sids[#sids + 1] = sid
  end
  local function each(f)
    for _, task_id in ipairs(order) do f(task_id, groups[task_id]) end
  end
  return add, each
end

-- Index one new event (its time `at` as text) out of step, if it is.
local function index_time(sid, at)
  local ms = sid_parts(sid)
  if not in_step(ms, tonumber(at)) then
    redis.call('ZADD', OUT_OF_STEP, at, sid)
    redis.call('ZADD', OUT_OF_STEP_BY_ID, string.match(sid, '^%d+'), sid)
  end
end

-- Add stream ids (text) to the sorted set of a task's own.
local function add_own(task_id, sids)
  local args = {'ZADD', own_index(task_id)}
  for _, sid in ipairs(sids) do
    args[#args + 1] = string.match(sid, '^%d+')
    args[#args + 1] = sid
  end
  redis.call(unpack(args))
end

-- Index a task's new events (their stream ids, text, in arrival order).
local function index_task(task_id, sids)
  local key = task_index(task_id)
  local held = redis.call('HGET', key, task_id) or ''
  if held == SPILLED then return add_own(task_id, sids) end
  local packed = {held}
  for _, sid in ipairs(sids) do packed[#packed + 1] = packed_sid(sid) end
  packed = table.concat(packed)
  if #packed <= SPILL_AT * SID_BYTES then
    redis.call('HSET', key, task_id, packed)
  else
    add_own(task_id, unpacked_sids(packed))
    redis.call('HSET', key, task_id, SPILLED)
  end
end

-- The stream ids of a task's events (text).
local function task_sids(task_id)
  local held = redis.call('HGET', task_index(task_id), task_id)
  if not held then return {} end
  if held == SPILLED then return redis.call('ZRANGE', own_index(task_id), 0, -1) end
  return unpacked_sids(held)
end

-- Take some of a task's events (stream ids, text) out of its index.
local function unindex_task(task_id, sids)
  local key = task_index(task_id)
  local held = redis.call('HGET', key, task_id)
  if held == SPILLED then
    redis.call('ZREM', own_index(task_id), unpack(sids))
    if redis.call('EXISTS', own_index(task_id)) == 0 then redis.call('HDEL', key, task_id) end
  elseif held then
    local gone = {}
    for _, sid in ipairs(sids) do gone[packed_sid(sid)] = true end
    local kept = {}
    for i = 1, #held, SID_BYTES do
      local one = string.sub(held, i, i + SID_BYTES - 1)
      if not gone[one] then kept[#kept + 1] = one end
    end
    if #kept == 0 then
      redis.call('HDEL', key, task_id)
    else
      redis.call('HSET', key, task_id, table.concat(kept))
    end
  end
end

-- Take stream entries ({id, fields}) that are being deleted out of every index.
local function unindex(entries)
  local add, each = by_task()
  for _, entry in ipairs(entries) do
    local sid, fields = entry[1], entry[2]
    if not in_step(sid_parts(sid), tonumber(field(fields, 'at'))) then
      redis.call('ZREM', OUT_OF_STEP, sid)
      redis.call('ZREM', OUT_OF_STEP_BY_ID, sid)
    end
    add(field(fields, 'task_id'), sid)
  end
  each(unindex_task)
end

-- Drop from one task-index hash the ids older than the stream's first (ms, seq); nil: empty.
local function sweep(bucket, first_ms, first_seq)
  local key = P .. ':ev:task:' .. bucket
  local flat = redis.call('HGETALL', key)
  local gone = {}
  for i = 1, #flat, 2 do
    local task_id, held = flat[i], flat[i + 1]
    if held == SPILLED then
      local own = own_index(task_id)
      if first_ms then
        redis.call('ZREMRANGEBYSCORE', own, '-inf', string.format('(%.0f', first_ms))
      else
        redis.call('DEL', own)
      end
      if redis.call('EXISTS', own) == 0 then gone[#gone + 1] = task_id end
    else
      local from = nil
      for j = 1, #held, SID_BYTES do
        local ms, seq = struct.unpack('>I6I4', held, j)
        if first_ms and (ms > first_ms or (ms == first_ms and seq >= first_seq)) then
          from = j
          break
        end
      end
      if not from then
        gone[#gone + 1] = task_id
      elseif from > 1 then
        redis.call('HSET', key, task_id, string.sub(held, from))
      end
    end
  end
  if #gone > 0 then redis.call('HDEL', key, unpack(gone)) end
end

-- Trim the stream to about `maxlen` events (whole nodes) and drop index entries of what went.
local function trim(maxlen)
  local trimmed = redis.call('XTRIM', STREAM, 'MAXLEN', '~', maxlen)
  if trimmed == 0 then return end
  local first = redis.call('XRANGE', STREAM, '-', '+', 'COUNT', 1)[1]
  local first_ms, first_seq = nil, nil
  if first then first_ms, first_seq = sid_parts(first[1]) end
  local late = redis.call('ZRANGEBYSCORE', OUT_OF_STEP_BY_ID, '-inf', first and first_ms or '+inf')
  for _, sid in ipairs(late) do
    local ms, seq = sid_parts(sid)
    if not first or ms < first_ms or (ms == first_ms and seq < first_seq) then
      redis.call('ZREM', OUT_OF_STEP, sid)
      redis.call('ZREM', OUT_OF_STEP_BY_ID, sid)
    end
  end
  local count = math.min(TASK_INDEXES, math.ceil(SWEEPS_PER_MAXLEN * TASK_INDEXES * trimmed / maxlen))
  local last = redis.call('INCRBY', SWEEP_NEXT, count)
  for n = last - count, last - 1 do
    sweep(string.format('%03x', n % TASK_INDEXES), first_ms, first_seq)
  end
end

-- Events a script writes: `emit(task_id, at, fields)` appends one to the stream (fields: a
-- field/value array as `encode_event` builds it); `flush(maxlen)` indexes what was emitted, by
-- task, and trims the stream once for the whole call.
local function event_writer()
  local add, each = by_task()
  local emitted = 0
  local function emit(task_id, at, fields)
    local sid = redis.call('XADD', STREAM, '*', unpack(fields))
    index_time(sid, at)
    add(task_id, sid)
    emitted = emitted + 1
  end
  local function flush(maxlen)
    if emitted == 0 then return end
    each(index_task)
    trim(tonumber(maxlen))
  end
  return emit, flush
end

-- Emit the events of a packed batch (see `encode_event`) whose task ids `keep` holds (nil: all).
local function emit_packed(emit, packed, keep)
  if packed == '' then return end
  for _, e in ipairs(cmsgpack.unpack(packed)) do
    if not keep or keep[e[1]] then emit(e[1], e[2], e[3]) end
  end
end
