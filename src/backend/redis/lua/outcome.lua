-- Stage 5 (job side): the task's outcome, counters and completion, exactly once; for a processed
-- task its result first (store_result), in the same script so both are one atomic step.
-- ARGV: P, task, job, outcome, requeued, now, attempts, verdict_field, encrypted, action, dlq_key,
-- dlq_body, error, verdict, state, task_ttl, job_ttl, then (processed only) store_result's arguments.
-- Returns {effect, became_terminal, previous status|'', job hash, inserted 0|1|-1, stored result|nil}.
local o = {task = ARGV[2], job = ARGV[3], outcome = ARGV[4], requeued = ARGV[5], now = ARGV[6],
  attempts = ARGV[7], verdict_field = ARGV[8], encrypted = ARGV[9], action = ARGV[10], dlq_key = ARGV[11],
  dlq_body = ARGV[12], error = ARGV[13], verdict = ARGV[14], state = ARGV[15], task_ttl = ARGV[16]}
local stored = {-1, false}
if #ARGV > 17 then
  local R = {}
  for i = 18, #ARGV do R[#R + 1] = ARGV[i] end
  stored = store_result(R)
end
local previous = redis.call('HGET', jkey(o.job), 'status') or ''
local r = record_outcome(o)
if r[1] ~= 0 then touch(o.job, ARGV[17]) end
return {r[1], r[2], previous, job_fields(o.job), stored[1], stored[2]}
