-- Records a run's outcome and releases the run it names.
-- ARGV: P, id, due ms, run JSON, job id ('' = none), runs kept
local id, due, run, job, kept = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local key = P .. 'schedule:' .. id
local st = key .. ':state'
if redis.call('EXISTS', key) == 0 then return 0 end
if redis.call('HGET', st, 'pending_due') == due then
  redis.call('HDEL', st, 'pending_due', 'pending_holder', 'pending_until', 'pending_missed')
  redis.call('ZREM', P .. 'schedules:leases', id)
end
redis.call('HSET', st, 'last_run', run)
if job ~= '' then redis.call('HSET', st, 'last_job_id', job) end
redis.call('LPUSH', key .. ':runs', run)
redis.call('LTRIM', key .. ':runs', 0, kept - 1)
return 1
