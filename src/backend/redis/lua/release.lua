-- Gives a claimed entry back without an outcome: it goes to the end of the stream.
-- ARGV: P, group, id.
local e = redis.call('XRANGE', STREAM, ARGV[3], ARGV[3])
redis.call('XACK', STREAM, ARGV[2], ARGV[3])
redis.call('XDEL', STREAM, ARGV[3])
if #e == 1 then redis.call('XADD', STREAM, '*', unpack(e[1][2])) end
return #e
