-- Shared by every script (prepended at load). ARGV[1] is always the key prefix `{env}:dsx-connect:`;
-- job keys use the original's fixed `dsxconnect:` names. Job rules mirror backend/job_rules.rs.
local P = ARGV[1]
local function num(v) return tonumber(v) or 0 end
local function jkey(id) return 'dsxconnect:job:' .. id end
local function tkey(id) return P .. 'task:' .. id end
local STREAM = P .. 'queue:scan_request'

local function new_job(id, now)
  local k = jkey(id)
  redis.call('HSET', k, 'job_id', id, 'status', 'running', 'started_at', now, 'last_update', now,
    'enqueued_count', 0, 'processed_count', 0, 'failed_count', 0, 'skipped_count', 0,
    'verdict_benign', 0, 'verdict_malicious', 0, 'verdict_unknown', 0, 'verdict_unsupported', 0,
    'verdict_not_scanned', 0, 'verdict_non_compliant', 0, 'verdict_encrypted', 0,
    'actions_taken', 0, 'actions_failed', 0)
  redis.call('ZADD', 'dsxconnect:jobs', now, id)
  redis.call('SADD', 'dsxconnect:jobs:active', id)
end

-- Loads or creates the job; returns its status before this script touched it (false if new).
local function ensure_job(id, now)
  local st = redis.call('HGET', jkey(id), 'status')
  if not st then new_job(id, now) end
  return st
end

local function touch(id, ttl)
  local k = jkey(id)
  redis.call('EXPIRE', k, ttl)
  redis.call('EXPIRE', k .. ':tasks', ttl)
  redis.call('EXPIRE', k .. ':parked', ttl)
end

local function finish(id, status, by, now)
  local k = jkey(id)
  redis.call('HSET', k, 'status', status, 'last_update', now)
  if by then redis.call('HSET', k, 'completed_by', by) end
  redis.call('HSETNX', k, 'finished_at', now)
  redis.call('HDEL', k, 'paused')
  redis.call('SREM', 'dsxconnect:jobs:active', id)
end

-- Rule C: a running job whose enumeration is done and whose items are all finished completes.
local function evaluate_completion(id, now)
  local f = redis.call('HMGET', jkey(id), 'status', 'enqueue_done', 'enqueued_count', 'processed_count',
    'failed_count', 'skipped_count', 'enqueued_total')
  if f[1] ~= 'running' or f[2] ~= '1' then return 0 end
  local finished = num(f[4]) + num(f[5]) + num(f[6])
  if finished < num(f[3]) then return 0 end
  if f[7] and finished < num(f[7]) then return 0 end
  finish(id, 'completed', 'enqueue_done', now)
  return 1
end

-- The outcome of a task: counters, task hash, DLQ entry, completion. Returns effect
-- (0 repeat, 1 count, 2 failed→processed, 3 re-dead-letter) and whether the job completed now.
-- o = {task, job, outcome, requeued, now, attempts, verdict_field, encrypted, action, dlq_key,
--      dlq_body, error, verdict, state, task_ttl}
local function record_outcome(o)
  local tk = tkey(o.task)
  local prior = redis.call('HGET', tk, 'outcome')
  local effect = 0
  if not prior then effect = 1
  elseif prior == 'failed' and o.outcome == 'processed' then effect = 2
  elseif prior == 'failed' and o.outcome == 'failed' and o.requeued == '1' then effect = 3
  end
  ensure_job(o.job, o.now)
  if effect == 0 then return {0, 0} end
  local k = jkey(o.job)
  local function count_processed()
    redis.call('HINCRBY', k, 'processed_count', 1)
    if o.verdict_field ~= '' then redis.call('HINCRBY', k, o.verdict_field, 1) end
    if o.encrypted == '1' then redis.call('HINCRBY', k, 'verdict_encrypted', 1) end
    if o.action == 'taken' then redis.call('HINCRBY', k, 'actions_taken', 1)
    elseif o.action == 'failed' then redis.call('HINCRBY', k, 'actions_failed', 1) end
  end
  if effect == 1 then
    if o.outcome == 'processed' then count_processed()
    elseif o.outcome == 'failed' then redis.call('HINCRBY', k, 'failed_count', 1)
    else redis.call('HINCRBY', k, 'skipped_count', 1) end
    redis.call('HSET', k, 'last_update', o.now)
  elseif effect == 2 then
    if num(redis.call('HGET', k, 'failed_count')) > 0 then redis.call('HINCRBY', k, 'failed_count', -1) end
    count_processed()
    redis.call('HSET', k, 'last_update', o.now)
  end
  if o.dlq_key ~= '' then redis.call('RPUSH', o.dlq_key, o.dlq_body) end
  local prev_attempts = num(redis.call('HGET', tk, 'attempts'))
  redis.call('HSET', tk, 'state', o.state, 'outcome', o.outcome, 'job_id', o.job, 'updated_at', o.now,
    'attempts', math.max(prev_attempts, num(o.attempts)))
  redis.call('HSETNX', tk, 'created_at', o.now)
  if o.error ~= '' then redis.call('HSET', tk, 'error', o.error) else redis.call('HDEL', tk, 'error') end
  if o.verdict ~= '' then redis.call('HSET', tk, 'verdict', o.verdict) else redis.call('HDEL', tk, 'verdict') end
  redis.call('EXPIRE', tk, o.task_ttl)
  local done = 0
  if effect == 1 then done = evaluate_completion(o.job, o.now) end
  return {effect, done}
end

local function job_fields(id) return redis.call('HGETALL', jkey(id)) end
