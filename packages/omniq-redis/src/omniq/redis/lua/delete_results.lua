-- Delete results (a requeued task starts without one). ARGV: base, task ids.
for i = 2, #ARGV do
  redis.call('DEL', P .. ':r:' .. ARGV[i])
  redis.call('ZREM', P .. ':rx', ARGV[i])
end
return 0
