-- Decide a batch of votes for ONE poll, atomically: idempotent replay, single-use form
-- token, rate limits (GCRA per client IP and per network), de-duplication, counting.
--
-- KEYS[1] counts hash {p:ID}:c    (option id -> votes)
-- KEYS[2] stats hash  {p:ID}:s    (outcome -> number of attempts)
-- KEYS[3] minutes hash {p:ID}:m   (unix minute -> accepted votes)
-- then 6 keys per vote i (unused ones are a placeholder key that is never touched):
--   voter mark, ip mark, rate key ip, rate key network, idempotency key, token nonce key
-- ARGV[1] number of votes n; then 10 fields per vote:
--   choices (comma list of option ids), voter mark ttl s (0: no check; -1: no expiry),
--   ip mark ttl s (0: no check), ip interval ms (0: no limit), ip tolerance ms,
--   net interval ms (0: no limit), net tolerance ms, idempotency ttl s (0: none),
--   token ttl s (0: none), reserved
-- Returns {minute, outcome_1, retry_ms_1, ..., outcome_n, retry_ms_n, counts...(HGETALL)}
--   outcome: 1 accepted, 2 duplicate, 3 rate limited, 4 idempotent replay, 5 token reused
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minute = tostring(math.floor(tonumber(t[1]) / 60))
local n = tonumber(ARGV[1])
local out = {minute}
local names = {'accepted', 'duplicate', 'rate_limited', 'replayed', 'token_reused'}

-- GCRA: returns 0 when allowed (and the new theoretical arrival time), else retry ms.
local function gcra(key, interval, tolerance)
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now_ms then tat = now_ms end
  local new_tat = tat + interval
  local allow_at = new_tat - interval - tolerance
  if allow_at > now_ms then return allow_at - now_ms, 0 end
  return 0, new_tat
end

for i = 0, n - 1 do
  local k = 3 + i * 6
  local a = 1 + i * 10
  local choices = ARGV[a + 1]
  local voter_ttl = tonumber(ARGV[a + 2])
  local ip_ttl = tonumber(ARGV[a + 3])
  local ip_int, ip_tol = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  local net_int, net_tol = tonumber(ARGV[a + 6]), tonumber(ARGV[a + 7])
  local idem_ttl = tonumber(ARGV[a + 8])
  local token_ttl = tonumber(ARGV[a + 9])
  local outcome, retry = 1, 0

  if idem_ttl > 0 and redis.call('EXISTS', KEYS[k + 5]) == 1 then
    outcome = 4
  elseif token_ttl > 0 and redis.call('EXISTS', KEYS[k + 6]) == 1 then
    outcome = 5
  else
    local ip_tat, net_tat = 0, 0
    if ip_int > 0 then
      retry, ip_tat = gcra(KEYS[k + 3], ip_int, ip_tol)
    end
    if retry == 0 and net_int > 0 then
      retry, net_tat = gcra(KEYS[k + 4], net_int, net_tol)
    end
    if retry > 0 then
      outcome = 3
    else
      -- The limiter counts every attempt that reaches it, duplicates included: a bot
      -- replaying votes still spends its budget.
      if ip_tat > 0 then redis.call('SET', KEYS[k + 3], ip_tat, 'PX', ip_tat - now_ms + 1000) end
      if net_tat > 0 then redis.call('SET', KEYS[k + 4], net_tat, 'PX', net_tat - now_ms + 1000) end
      if (voter_ttl ~= 0 and redis.call('EXISTS', KEYS[k + 1]) == 1)
         or (ip_ttl > 0 and redis.call('EXISTS', KEYS[k + 2]) == 1) then
        outcome = 2
      end
    end
  end

  if outcome == 1 then
    if voter_ttl > 0 then redis.call('SET', KEYS[k + 1], '1', 'EX', voter_ttl)
    elseif voter_ttl < 0 then redis.call('SET', KEYS[k + 1], '1') end
    if ip_ttl > 0 then redis.call('SET', KEYS[k + 2], '1', 'EX', ip_ttl) end
    if idem_ttl > 0 then redis.call('SET', KEYS[k + 5], '1', 'EX', idem_ttl) end
    if token_ttl > 0 then redis.call('SET', KEYS[k + 6], '1', 'EX', token_ttl) end
    for option in string.gmatch(choices, '[^,]+') do
      redis.call('HINCRBY', KEYS[1], option, 1)
    end
    redis.call('HINCRBY', KEYS[3], minute, 1)
  end
  redis.call('HINCRBY', KEYS[2], names[outcome], 1)
  out[#out + 1] = outcome
  out[#out + 1] = retry
end

local counts = redis.call('HGETALL', KEYS[1])
for j = 1, #counts do out[#out + 1] = counts[j] end
return out
