-- Stage 5 (results side), run inside the outcome script so a result and its task's outcome are
-- one atomic step: one result per task id (the by-task key is the guard), the lists and statistics.
-- R: task, job|'', result JSON starting with {"id":0, by_task_ttl, job_list_ttl, retain,
-- scan_us|'', location, size for `longest_file_size`, size|'', time bucket, size bucket,
-- findings cap|'' (set for a malicious result), then field/increment pairs for
-- dsxconnect:scan_stats. Returns {inserted 0|1, stored JSON}.
local function store_result(R)
  local bt = 'dsxconnect:scan_result_by_task:' .. R[1]
  local prior = redis.call('GET', bt)
  if prior then return {0, prior} end
  local id = redis.call('INCR', 'dsxconnect:scan_results:seq')
  local body = '{"id":' .. id .. string.sub(R[3], 8)
  redis.call('SET', bt, body, 'EX', R[4])
  local retain = tonumber(R[6])
  if retain ~= 0 then
    redis.call('LPUSH', 'dsxconnect:scan_results', body)
    if retain > 0 then redis.call('LTRIM', 'dsxconnect:scan_results', 0, retain - 1) end
    if R[2] ~= '' then
      local bj = 'dsxconnect:scan_results_by_job:' .. R[2]
      redis.call('LPUSH', bj, body)
      if retain > 0 then redis.call('LTRIM', bj, 0, retain - 1) end
      redis.call('EXPIRE', bj, R[5])
    end
    if R[13] ~= '' then
      -- Findings summary: newest first, capped, gone a day after the last finding.
      redis.call('LPUSH', 'dsxconnect:scan_findings', body)
      redis.call('LTRIM', 'dsxconnect:scan_findings', 0, tonumber(R[13]) - 1)
      redis.call('EXPIRE', 'dsxconnect:scan_findings', 86400)
    end
  end
  local stats = 'dsxconnect:scan_stats'
  for i = 14, #R, 2 do redis.call('HINCRBY', stats, R[i], R[i + 1]) end
  if R[7] ~= '' then
    local us = tonumber(R[7])
    local cur = redis.call('HGET', stats, 'longest_us')
    if not cur or us > tonumber(cur) then
      redis.call('HSET', stats, 'longest_us', us, 'longest_file', R[8], 'longest_file_size', R[9])
    end
    local hist = 'dsxconnect:scan_stats:hist:scan_time'
    redis.call('HINCRBY', hist, R[11], 1)
    redis.call('HINCRBY', hist, 'count', 1)
    local m = redis.call('HGET', hist, 'max')
    if not m or us > tonumber(m) then redis.call('HSET', hist, 'max', us) end
  end
  if R[10] ~= '' then
    local hist = 'dsxconnect:scan_stats:hist:file_size'
    local size = tonumber(R[10])
    redis.call('HINCRBY', hist, R[12], 1)
    redis.call('HINCRBY', hist, 'count', 1)
    local m = redis.call('HGET', hist, 'max')
    if not m or size > tonumber(m) then redis.call('HSET', hist, 'max', size) end
  end
  return {1, body}
end
