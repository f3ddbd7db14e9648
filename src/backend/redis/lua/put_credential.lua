-- Writes a connector's credential record if the stored version is still the one read.
-- ARGV: prefix, uuid, expected version ('' = no record may exist), record JSON, key id,
--       secret, state, previous key id, previous key valid until (epoch s, '' = none)
-- The key-id index (`dsxconnect:hmac:kid:<kid>` → uuid, the original's layout) follows the
-- record: the previous key's entry expires with its grace period, dropped keys lose theirs.
local prefix, uuid, expected = ARGV[1], ARGV[2], ARGV[3]
local record, kid, secret, state, prev, prev_until = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local hash = prefix .. 'connectors:config:' .. uuid
local index = 'dsxconnect:hmac:kid:'
local cur = redis.call('HGET', hash, 'version')
if expected == '' then
  if cur then return 0 end
elseif cur ~= expected then
  return 0
end
local old_kid = redis.call('HGET', hash, 'hmac_key_id')
local old_prev = redis.call('HGET', hash, 'prev_key_id')
for _, k in ipairs({old_kid or '', old_prev or ''}) do
  if k ~= '' and k ~= kid and k ~= prev then redis.call('DEL', index .. k) end
end
local version = (tonumber(cur) or 0) + 1
redis.call('HSET', hash, 'version', version, 'record', record, 'hmac_key_id', kid, 'hmac_secret', secret,
  'state', state, 'prev_key_id', prev)
redis.call('SADD', prefix .. 'connectors:credentials', uuid)
if kid ~= '' then redis.call('SET', index .. kid, uuid) end
if prev ~= '' then
  local t = tonumber(prev_until)
  local now = tonumber(redis.call('TIME')[1])
  if t and t > now then
    redis.call('SET', index .. prev, uuid, 'EXAT', t)
  else
    redis.call('DEL', index .. prev)
  end
end
return 1
