-- Replaces a claimed entry by a delayed retry; the task becomes `retrying`.
-- ARGV: P, group, id, due_ms, item, task, attempts, error, now.
redis.call('XACK', STREAM, ARGV[2], ARGV[3])
redis.call('XDEL', STREAM, ARGV[3])
redis.call('ZADD', STREAM .. ':delayed', ARGV[4], ARGV[5])
local tk = tkey(ARGV[6])
if not redis.call('HGET', tk, 'outcome') then
  redis.call('HSET', tk, 'state', 'retrying', 'attempts', ARGV[7], 'error', ARGV[8], 'updated_at', ARGV[9])
end
return 1
