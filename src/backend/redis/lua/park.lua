-- A claimed entry of a job that is not running: parked while paused, skipped once cancelled,
-- back in the queue if the job runs again. Decided on the job's status now.
-- ARGV: P, group, id, item, task, job, now, attempts, task_ttl, job_ttl.
-- Returns {'parked'} | {'requeued'} | {'skipped', effect, became_terminal, previous, job hash}.
local item, task, job, now = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
redis.call('XACK', STREAM, ARGV[2], ARGV[3])
redis.call('XDEL', STREAM, ARGV[3])
local status = redis.call('HGET', jkey(job), 'status')
if status == 'paused' then
  redis.call('RPUSH', jkey(job) .. ':parked', item)
  if not redis.call('HGET', tkey(task), 'outcome') then redis.call('HSET', tkey(task), 'state', 'queued') end
  return {'parked'}
end
if status == 'cancelled' then
  local r = record_outcome({task = task, job = job, outcome = 'skipped', requeued = '0', now = now,
    attempts = ARGV[8], verdict_field = '', encrypted = '0', action = '', dlq_key = '', dlq_body = '',
    error = '', verdict = '', state = 'skipped', task_ttl = ARGV[9]})
  touch(job, ARGV[10])
  return {'skipped', r[1], r[2], status, job_fields(job)}
end
redis.call('XADD', STREAM, '*', 'task_id', task, 'job_id', job, 'item', item)
return {'requeued'}
