-- Events matching every filter, oldest first (by time, then arrival). ARGV: base, task_id|'',
-- since|'', until|'' (exclusive), limit (-1: none), then the wanted types (none: every type).
-- Returns each entry's field list.
local task_id, since, until_, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local wanted = nil
if #ARGV > 5 then
  wanted = {}
  for i = 6, #ARGV do wanted[ARGV[i]] = true end
end
local found = {}

local function consider(sid, fields)
  local at = tonumber(field(fields, 'at'))
  if (since and at < since) or (until_ and at >= until_) then return end
  if wanted and not wanted[field(fields, 'type')] then return end
  local ms, seq = sid_parts(sid)
  found[#found + 1] = {at, ms, seq, fields}
end

local function earlier(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  if a[2] ~= b[2] then return a[2] < b[2] end
  return a[3] < b[3]
end

local function consider_ids(sids)
  for _, sid in ipairs(sids) do
    local entry = redis.call('XRANGE', STREAM, sid, sid)[1]
    if entry then consider(entry[1], entry[2]) end
  end
end

-- Keep the `limit` earliest found so far; returns the time of the last one kept, if full.
local function keep_earliest()
  table.sort(found, earlier)
  if limit < 0 or #found < limit then return nil end
  for i = #found, limit + 1, -1 do found[i] = nil end
  return found[limit][1]
end

if task_id ~= '' then
  consider_ids(task_sids(task_id))
else
  local range = {'ZRANGEBYSCORE', OUT_OF_STEP, ARGV[3] ~= '' and ARGV[3] or '-inf',
    ARGV[4] ~= '' and '(' .. ARGV[4] or '+inf'}
  if limit >= 0 and not wanted then
    range[#range + 1] = 'LIMIT'
    range[#range + 1] = 0
    range[#range + 1] = limit
  end
  consider_ids(redis.call(unpack(range)))
  local low = since and string.format('%.0f', math.max(0, math.floor(since * 1000 - EARLY_MS))) or '-'
  local high = until_ and string.format('%.0f', math.ceil(until_ * 1000 + LATE_MS)) or '+'
  local page = 500
  while true do
    local entries = redis.call('XRANGE', STREAM, low, high, 'COUNT', page)
    for _, entry in ipairs(entries) do
      if in_step(sid_parts(entry[1]), tonumber(field(entry[2], 'at'))) then consider(entry[1], entry[2]) end
    end
    if #entries < page then break end
    local last = entries[#entries][1]
    low = next_sid(last)
    -- Events in step further on happened after (last - LATE_MS): none of them can be kept.
    local latest = keep_earliest()
    if latest and sid_parts(last) - LATE_MS > latest * 1000 then break end
  end
end
keep_earliest()
local out = {}
for i, e in ipairs(found) do out[i] = e[4] end
return out
