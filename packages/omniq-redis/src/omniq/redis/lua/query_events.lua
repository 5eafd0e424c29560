-- Events matching every filter, oldest first. ARGV: base, task_id|'', min score, max score,
-- limit (-1: none), then the wanted types (none: every type). Returns each entry's field list.
local stream = P .. ':events'
local task_id, min, max, limit = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local wanted = nil
if #ARGV > 5 then
  wanted = {}
  for i = 6, #ARGV do wanted[ARGV[i]] = true end
end
local index = P .. ':ev:at'
if task_id ~= '' then index = P .. ':ev:t:' .. task_id end
local out = {}
local offset, page = 0, 500
while limit < 0 or #out < limit do
  local members = redis.call('ZRANGEBYSCORE', index, min, max, 'LIMIT', offset, page)
  for _, member in ipairs(members) do
    local sid = string.match(member, '^[^ ]+')
    local entry = redis.call('XRANGE', stream, sid, sid)[1]
    -- A missing entry was trimmed by MAXLEN; its index entries go at the next purge.
    if entry then
      local fields = entry[2]
      local keep = true
      if wanted then
        keep = false
        for j = 1, #fields, 2 do
          if fields[j] == 'type' then keep = wanted[fields[j + 1]] == true end
        end
      end
      if keep then
        out[#out + 1] = fields
        if limit >= 0 and #out >= limit then break end
      end
    end
  end
  if #members < page then break end
  offset = offset + page
end
return out
