-- The tasks of these ids that exist (tasks_reply). ARGV: base, ids.
local rows = {}
for i = 2, #ARGV do
  local row = record(ARGV[i])
  if row[AT.id] then rows[#rows + 1] = row end
end
return tasks_reply(rows)
