-- Deletes a schedule, its run state and history. ARGV: P, id
local id = ARGV[2]
local key = P .. 'schedule:' .. id
local existed = redis.call('DEL', key)
redis.call('DEL', key .. ':state', key .. ':runs')
redis.call('ZREM', P .. 'schedules', id)
redis.call('ZREM', P .. 'schedules:due', id)
redis.call('ZREM', P .. 'schedules:leases', id)
return existed
