-- The janitor lease: taken when free, renewed by its holder. ARGV: P, holder, lease_ms.
local k = P .. 'lock:janitor'
local holder = redis.call('GET', k)
if holder == ARGV[2] then
  redis.call('PEXPIRE', k, ARGV[3])
  return 1
end
if not holder and redis.call('SET', k, ARGV[2], 'NX', 'PX', ARGV[3]) then return 1 end
return 0
