-- Pause / resume / cancel per the state table, with the effect on parked items in the same step.
-- ARGV: P, job, command, now, job_ttl. Returns {error|'', became_terminal, changed, previous, job hash}.
local job, cmd, now = ARGV[2], ARGV[3], ARGV[4]
local k = jkey(job)
local status = redis.call('HGET', k, 'status')
if not status then return {'job_not_found', 0, 0, '', {}} end
local terminal, changed = 0, 0
if status == 'completed' then return {'job_completed', 0, 0, status, {}} end
if status == 'cancelled' then
  if cmd == 'cancel' then return {'', 0, 0, status, job_fields(job)} end
  return {'job_cancelled', 0, 0, status, {}}
end
if status == 'running' and cmd == 'resume' then return {'job_not_paused', 0, 0, status, {}} end
if status == 'paused' and cmd == 'pause' then return {'', 0, 0, status, job_fields(job)} end
if cmd == 'pause' then
  redis.call('HSET', k, 'status', 'paused', 'paused', '1', 'last_update', now)
elseif cmd == 'resume' then
  redis.call('HSET', k, 'status', 'running', 'last_update', now)
  redis.call('HDEL', k, 'paused')
  for _, item in ipairs(redis.call('LRANGE', k .. ':parked', 0, -1)) do
    local w = cjson.decode(item)
    redis.call('XADD', STREAM, '*', 'task_id', w.task_id, 'job_id', w.job_id, 'item', item)
  end
  redis.call('DEL', k .. ':parked')
  terminal = evaluate_completion(job, now)
else
  local parked = redis.call('LRANGE', k .. ':parked', 0, -1)
  for _, item in ipairs(parked) do
    local w = cjson.decode(item)
    redis.call('HSET', tkey(w.task_id), 'state', 'skipped', 'outcome', 'skipped', 'updated_at', now)
  end
  redis.call('DEL', k .. ':parked')
  redis.call('HINCRBY', k, 'skipped_count', #parked)
  redis.call('HSET', k, 'cancel', '1')
  finish(job, 'cancelled', nil, now)
  terminal = 1
end
changed = 1
touch(job, ARGV[5])
return {'', terminal, changed, status, job_fields(job)}
