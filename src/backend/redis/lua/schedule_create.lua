-- A new schedule unless `max` exist. ARGV: P, id, definition JSON, created_ms, next due ms ('' = none), max
local id, def, created, nxt, max = ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local all = P .. 'schedules'
local key = P .. 'schedule:' .. id
if redis.call('ZCARD', all) >= max then return 0 end
redis.call('SET', key, def)
redis.call('ZADD', all, created, id)
redis.call('DEL', key .. ':state', key .. ':runs')
if nxt ~= '' then
  redis.call('HSET', key .. ':state', 'next_run_ms', nxt)
  redis.call('ZADD', P .. 'schedules:due', nxt, id)
end
return 1
