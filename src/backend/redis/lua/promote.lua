-- Moves due retries from the delayed set to the stream, oldest due first.
-- ARGV: P, now_ms, max. Returns {moved, next due ms or -1}.
local delayed = STREAM .. ':delayed'
local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, item in ipairs(due) do
  local w = cjson.decode(item)
  redis.call('XADD', STREAM, '*', 'task_id', w.task_id, 'job_id', w.job_id, 'item', item)
  redis.call('ZREM', delayed, item)
end
local nxt = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if #nxt == 0 then return {#due, -1} end
return {#due, tonumber(nxt[2])}
