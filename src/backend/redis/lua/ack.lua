-- Removes a finished entry from the stream and the group's pending list. ARGV: P, group, id.
redis.call('XACK', STREAM, ARGV[2], ARGV[3])
return redis.call('XDEL', STREAM, ARGV[3])
