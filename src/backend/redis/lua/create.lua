-- Creates a job if absent, or completes the record that an early scan request of the same job
-- created (the connector may enqueue before the trigger records its job): what the trigger
-- knows and the record lacks is filled in, nothing is overwritten.
-- ARGV: P, job, now, connector_uuid|'', expected_total|'', job_name|'', awaits '0'|'1', job_ttl.
-- Returns the job hash.
local job, now = ARGV[2], ARGV[3]
local k = jkey(job)
local fresh = not redis.call('HGET', k, 'status')
if fresh then new_job(job, now) end
if ARGV[4] ~= '' then redis.call('HSETNX', k, 'connector_uuid', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSETNX', k, 'expected_total', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSETNX', k, 'job_name', ARGV[6]) end
if ARGV[7] == '1' then redis.call('HSET', k, 'awaits_enqueue_done', '1') end
if fresh then touch(job, ARGV[8]) end
return job_fields(job)
