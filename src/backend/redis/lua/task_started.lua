-- Marks a task running, unless it already has an outcome (a late redelivery must not reopen it).
-- ARGV: P, task, attempts.
local tk = tkey(ARGV[2])
if redis.call('HGET', tk, 'outcome') then return 0 end
redis.call('HSET', tk, 'state', 'running', 'attempts', ARGV[3])
return 1
