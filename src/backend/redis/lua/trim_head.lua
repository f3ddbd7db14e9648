-- Drops the first n entries of a list if its head is still `expected`. ARGV: P, key, expected, n.
if redis.call('LINDEX', ARGV[2], 0) ~= ARGV[3] then return 0 end
redis.call('LTRIM', ARGV[2], tonumber(ARGV[4]), -1)
return tonumber(ARGV[4])
