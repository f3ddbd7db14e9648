-- Stage 1 (docs/reference/CORE-API.md, "Stages"): idempotency, job gate, task records, enqueue or
-- park, job counters.
-- ARGV: P, now, idem_key|'', idem_ttl, job_name|'', job_ttl, task_ttl, then per item:
-- task_id, job_id, connector_uuid|'', awaits_enqueue_done '0'|'1', work item JSON.
-- Returns {replay 0|1, outcomes JSON}.
local now, idem, idem_ttl, job_name = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local job_ttl, task_ttl = ARGV[6], ARGV[7]
if idem ~= '' then
  local prior = redis.call('GET', idem)
  if prior then return {1, prior} end
end
local out, touched, accepted = {}, {}, false
for i = 8, #ARGV, 5 do
  local task, job, conn, awaits, item = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  ensure_job(job, now)
  touched[job] = true
  local k = jkey(job)
  local status = redis.call('HGET', k, 'status')
  local outcome = 'queued'
  if status == 'cancelled' then outcome = 'rejected' elseif status == 'paused' then outcome = 'parked' end
  if outcome ~= 'rejected' then
    accepted = true
    if outcome == 'parked' then
      redis.call('RPUSH', k .. ':parked', item)
    else
      redis.call('XADD', STREAM, '*', 'task_id', task, 'job_id', job, 'item', item)
    end
    redis.call('RPUSH', k .. ':tasks', task)
    redis.call('HSET', tkey(task), 'state', 'queued', 'job_id', job, 'attempts', 0, 'created_at', now,
      'updated_at', now)
    redis.call('EXPIRE', tkey(task), task_ttl)
    redis.call('HINCRBY', k, 'enqueued_count', 1)
    redis.call('HSET', k, 'last_enqueued_at', now, 'last_update', now)
    if conn ~= '' then redis.call('HSETNX', k, 'connector_uuid', conn) end
    if awaits == '1' then redis.call('HSET', k, 'awaits_enqueue_done', '1') end
    if job_name ~= '' then redis.call('HSET', k, 'job_name', job_name) end
  end
  out[#out + 1] = {task_id = task, job_id = job, outcome = outcome}
end
for _, a in ipairs(out) do a.job_status = redis.call('HGET', jkey(a.job_id), 'status') end
for job, _ in pairs(touched) do touch(job, job_ttl) end
local answer = cjson.encode(out)
if accepted and idem ~= '' then redis.call('SET', idem, answer, 'EX', idem_ttl) end
return {0, answer}
