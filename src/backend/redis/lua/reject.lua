-- Dead-letters an unreadable entry (`bad_payload`). ARGV: P, group, id, dlq key, body.
redis.call('XACK', STREAM, ARGV[2], ARGV[3])
redis.call('XDEL', STREAM, ARGV[3])
return redis.call('RPUSH', ARGV[4], ARGV[5])
