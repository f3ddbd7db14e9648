-- Replaces a definition and its next due time; a held run keeps its lease.
-- ARGV: P, id, definition JSON, next due ms ('' = none: paused)
local id, def, nxt = ARGV[2], ARGV[3], ARGV[4]
local key = P .. 'schedule:' .. id
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('SET', key, def)
if nxt ~= '' then
  redis.call('HSET', key .. ':state', 'next_run_ms', nxt)
  redis.call('ZADD', P .. 'schedules:due', nxt, id)
else
  redis.call('HDEL', key .. ':state', 'next_run_ms')
  redis.call('ZREM', P .. 'schedules:due', id)
end
return 1
