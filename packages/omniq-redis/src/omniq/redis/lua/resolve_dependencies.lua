-- Release or cancel the tasks waiting on these (final) tasks. ARGV: base, now, the
-- dependency-failed error template, task ids. Returns the {released, cancelled} tasks (tasks_reply).
local woken = {}
local ids = {}
for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
local released, cancelled = resolve(ids, ARGV[2], ARGV[3], woken)
for q in pairs(woken) do wake(q) end
return {tasks_reply(released), tasks_reply(cancelled)}
