-- Creates a job if absent. ARGV: P, job, now, connector_uuid|'', expected_total|'', job_name|'',
-- awaits '0'|'1', job_ttl. Returns the job hash.
local job, now = ARGV[2], ARGV[3]
if not redis.call('HGET', jkey(job), 'status') then
  new_job(job, now)
  local k = jkey(job)
  if ARGV[4] ~= '' then redis.call('HSET', k, 'connector_uuid', ARGV[4]) end
  if ARGV[5] ~= '' then redis.call('HSET', k, 'expected_total', ARGV[5]) end
  if ARGV[6] ~= '' then redis.call('HSET', k, 'job_name', ARGV[6]) end
  if ARGV[7] == '1' then redis.call('HSET', k, 'awaits_enqueue_done', '1') end
  touch(job, ARGV[8])
end
return job_fields(job)
