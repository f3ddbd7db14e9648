-- Sets expected_total from a preflight estimate if the job exists and has none. ARGV: P, job, total, now.
local k = jkey(ARGV[2])
if redis.call('EXISTS', k) == 1 and redis.call('HSETNX', k, 'expected_total', ARGV[3]) == 1 then
  redis.call('HSET', k, 'last_update', ARGV[4])
end
return 0
