-- Moves one DLQ entry back into the stream if the list still holds it at `index`.
-- ARGV: P, dlq key, expected, index, item, task, job, now. Returns 1 when moved.
if redis.call('LINDEX', ARGV[2], tonumber(ARGV[4])) ~= ARGV[3] then return 0 end
redis.call('LREM', ARGV[2], 1, ARGV[3])
redis.call('XADD', STREAM, '*', 'task_id', ARGV[6], 'job_id', ARGV[7], 'item', ARGV[5])
redis.call('HSET', tkey(ARGV[6]), 'state', 'queued', 'updated_at', ARGV[8])
return 1
