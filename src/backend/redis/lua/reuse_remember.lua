-- Remembers a verdict and forgets the oldest beyond the bound, atomically (docs/SCAN-REUSE.md).
-- ARGV: P, key, record, bound. `reuse:entries` holds the records, `reuse:order` their keys by
-- insertion number (`reuse:seq`); replacing a record keeps its place.
local entries, order = P .. 'reuse:entries', P .. 'reuse:order'
if redis.call('HSET', entries, ARGV[2], ARGV[3]) == 1 then
  redis.call('ZADD', order, redis.call('INCR', P .. 'reuse:seq'), ARGV[2])
end
local over = redis.call('ZCARD', order) - tonumber(ARGV[4])
if over > 0 then
  local old = redis.call('ZPOPMIN', order, over)
  for i = 1, #old, 2 do redis.call('HDEL', entries, old[i]) end
end
return 1
