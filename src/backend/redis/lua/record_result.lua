-- Stage 5 (results side): one result per task id (SET NX is the guard), the lists and statistics.
-- ARGV: P, task, job|'', result JSON starting with {"id":0, by_task_ttl, job_list_ttl, retain,
-- scan_us|'', location, size for `longest_file_size`, size|'', time bucket, size bucket,
-- findings cap|'' (set for a malicious result), then field/increment pairs for
-- dsxconnect:scan_stats. Returns {inserted 0|1, stored JSON}.
local bt = 'dsxconnect:scan_result_by_task:' .. ARGV[2]
local prior = redis.call('GET', bt)
if prior then return {0, prior} end
local id = redis.call('INCR', 'dsxconnect:scan_results:seq')
local body = '{"id":' .. id .. string.sub(ARGV[4], 8)
redis.call('SET', bt, body, 'EX', ARGV[5])
local retain = tonumber(ARGV[7])
if retain ~= 0 then
  redis.call('LPUSH', 'dsxconnect:scan_results', body)
  if retain > 0 then redis.call('LTRIM', 'dsxconnect:scan_results', 0, retain - 1) end
  if ARGV[3] ~= '' then
    local bj = 'dsxconnect:scan_results_by_job:' .. ARGV[3]
    redis.call('LPUSH', bj, body)
    if retain > 0 then redis.call('LTRIM', bj, 0, retain - 1) end
    redis.call('EXPIRE', bj, ARGV[6])
  end
  if ARGV[14] ~= '' then
    -- Findings summary: newest first, capped, gone a day after the last finding.
    redis.call('LPUSH', 'dsxconnect:scan_findings', body)
    redis.call('LTRIM', 'dsxconnect:scan_findings', 0, tonumber(ARGV[14]) - 1)
    redis.call('EXPIRE', 'dsxconnect:scan_findings', 86400)
  end
end
local stats = 'dsxconnect:scan_stats'
for i = 15, #ARGV, 2 do redis.call('HINCRBY', stats, ARGV[i], ARGV[i + 1]) end
if ARGV[8] ~= '' then
  local us = tonumber(ARGV[8])
  local cur = redis.call('HGET', stats, 'longest_us')
  if not cur or us > tonumber(cur) then
    redis.call('HSET', stats, 'longest_us', us, 'longest_file', ARGV[9], 'longest_file_size', ARGV[10])
  end
  local hist = 'dsxconnect:scan_stats:hist:scan_time'
  redis.call('HINCRBY', hist, ARGV[12], 1)
  redis.call('HINCRBY', hist, 'count', 1)
  local m = redis.call('HGET', hist, 'max')
  if not m or us > tonumber(m) then redis.call('HSET', hist, 'max', us) end
end
if ARGV[11] ~= '' then
  local hist = 'dsxconnect:scan_stats:hist:file_size'
  local size = tonumber(ARGV[11])
  redis.call('HINCRBY', hist, ARGV[13], 1)
  redis.call('HINCRBY', hist, 'count', 1)
  local m = redis.call('HGET', hist, 'max')
  if not m or size > tonumber(m) then redis.call('HSET', hist, 'max', size) end
end
return {1, body}
