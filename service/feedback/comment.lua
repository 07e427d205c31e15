-- Admit one comment of a poll: the site's rate limits (GCRA per address and per
-- network, the same figures as votes, in the comment's own limiter keys) and the count of
-- this network's comments in the last burst window, for the burst filter.
-- Key names come from service/feedback/keys.py; this script spells none.
--
-- KEYS[1] address limiter  {p:ID}:ci:<ip hash>
-- KEYS[2] network limiter  {p:ID}:cn:<network hash>
-- KEYS[3] network burst    {p:ID}:cb:<network hash>
-- ARGV[1..4] address interval ms, address tolerance ms, network interval ms, network
--   tolerance ms; ARGV[5] 1 when the limits apply (0: an allowlisted network);
-- ARGV[6] burst window s
-- Returns {0, comments from the network in the window} when admitted,
--   {1, retry ms} over the address limit, {2, retry ms} over the network limit.
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function gcra(key, interval, tolerance)
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now_ms then tat = now_ms end
  local allow_at = tat - tolerance
  if allow_at > now_ms then return allow_at - now_ms, 0 end
  return 0, tat + interval
end

if ARGV[5] == '1' then
  local retry, ip_tat = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
  if retry > 0 then return {1, retry} end
  local net_tat
  retry, net_tat = gcra(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
  if retry > 0 then return {2, retry} end
  redis.call('SET', KEYS[1], ip_tat, 'PX', ip_tat - now_ms + 1000)
  redis.call('SET', KEYS[2], net_tat, 'PX', net_tat - now_ms + 1000)
end
local seen = redis.call('INCR', KEYS[3])
if seen == 1 then redis.call('EXPIRE', KEYS[3], tonumber(ARGV[6])) end
return {0, seen}
