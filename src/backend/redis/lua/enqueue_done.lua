-- `enqueue_done` (creating an empty job if absent) and rule C.
-- ARGV: P, job, now, total|'', job_ttl, unreadable. Returns {became_terminal, previous|'', job hash}.
local job, now, total, unreadable = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[6])
local previous = ensure_job(job, now) or ''
local k = jkey(job)
redis.call('HSET', k, 'enqueue_done', '1', 'enqueue_finished_at', now, 'last_update', now)
if total ~= '' then
  redis.call('HSET', k, 'enqueued_total', total)
  redis.call('HSETNX', k, 'expected_total', total)
end
if unreadable > 0 then redis.call('HINCRBY', k, 'unreadable_count', unreadable) end
local done = evaluate_completion(job, now)
touch(job, ARGV[5])
return {done, previous, job_fields(job)}
