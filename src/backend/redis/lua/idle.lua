-- Rules I and L for one job (decided again here, atomically). ARGV: P, job, now, idle_secs,
-- connector_present '0'|'1'. Returns the job hash when it completed now, else an empty array.
local job, now, idle = ARGV[2], num(ARGV[3]), num(ARGV[4])
local f = redis.call('HMGET', jkey(job), 'status', 'enqueued_count', 'processed_count', 'failed_count',
  'skipped_count', 'last_enqueued_at', 'started_at', 'enqueue_done', 'awaits_enqueue_done')
if idle == 0 or f[1] ~= 'running' then return {} end
if num(f[3]) + num(f[4]) + num(f[5]) < num(f[2]) then return {} end
local quiet = num(f[6] or f[7])
if now - quiet < idle then return {} end
local by
if f[8] == '1' or f[9] ~= '1' then by = 'idle' elseif ARGV[5] == '0' then by = 'connector_lost' else return {} end
finish(job, 'completed', by, now)
return job_fields(job)
