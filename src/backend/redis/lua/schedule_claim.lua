-- Takes the run due at ARGV[3] (one caller per due time), or takes over that run when its
-- holder's lease expired. ARGV: P, id, due ms, missed, next due ms ('' = none), holder, now ms, lease ms
local id, due, missed, nxt, holder = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local now, lease = tonumber(ARGV[7]), tonumber(ARGV[8])
local key = P .. 'schedule:' .. id
local st = key .. ':state'
if redis.call('EXISTS', key) == 0 then return 0 end
local until_ms = now + lease
local held = redis.call('HGET', st, 'pending_due')
if held then
  if held ~= due or num(redis.call('HGET', st, 'pending_until')) > now then return 0 end
  redis.call('HSET', st, 'pending_holder', holder, 'pending_until', until_ms)
  redis.call('ZADD', P .. 'schedules:leases', until_ms, id)
  return 1
end
if redis.call('HGET', st, 'next_run_ms') ~= due then return 0 end
if nxt ~= '' then
  redis.call('HSET', st, 'next_run_ms', nxt)
  redis.call('ZADD', P .. 'schedules:due', nxt, id)
else
  redis.call('HDEL', st, 'next_run_ms')
  redis.call('ZREM', P .. 'schedules:due', id)
end
redis.call('HSET', st, 'pending_due', due, 'pending_holder', holder, 'pending_until', until_ms,
  'pending_missed', missed)
redis.call('ZADD', P .. 'schedules:leases', until_ms, id)
return 1
