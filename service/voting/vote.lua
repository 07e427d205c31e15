-- Decide a batch of votes for ONE poll, atomically: idempotent replay, single-use form
-- token, rate limits (GCRA per client IP and per network), de-duplication, counting.
-- Arguments are encoded by service/voting/wire.py (decide_args); key names come from
-- service/voting/keys.py: this script spells none.
--
-- KEYS[1] counts hash  {p:ID}:c  (option id -> votes)
-- KEYS[2] stats hash   {p:ID}:s  (outcome -> attempts)
-- KEYS[3] minutes hash {p:ID}:m  (unix minute -> accepted votes)
-- ARGV[1] n votes
-- ARGV[2..5] GCRA ip interval ms, ip tolerance ms, network interval ms, network tolerance ms
-- ARGV[6] voter mark ttl s (0: no voter check); ARGV[7] ip mark ttl s (0: no ip check);
--   ARGV[8] idempotency ttl s; ARGV[9] token nonce ttl s
-- ARGV[10..15] key stems (stem .. member = key): idempotency, token nonce, ip rate,
--   network rate, voter mark, ip mark. Every stem carries the poll's {p:ID} hash tag, as
--   KEYS do, so each key this script touches lives in the poll's cluster slot. Only the
--   three hashes are declared as KEYS: declaring the per-member keys as well would cost
--   up to six more KEYS per vote, on every call.
-- ARGV[15 + i], one per vote: "choices voter ip net idem nonce limited" (space separated;
--   choices a comma list of option ids; '-' for an absent idem/nonce; limited 1 or 0)
-- Returns {minute, outcome_1, retry_ms_1, ..., outcome_n, retry_ms_n, counts (HGETALL)...}
--   outcome: 1 accepted, 2 duplicate, 3 rate limited, 4 idempotent replay, 5 token reused
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minute = tostring(math.floor(tonumber(t[1]) / 60))
local n = tonumber(ARGV[1])
local ip_int, ip_tol = tonumber(ARGV[2]), tonumber(ARGV[3])
local net_int, net_tol = tonumber(ARGV[4]), tonumber(ARGV[5])
local voter_ttl, ip_ttl = tonumber(ARGV[6]), tonumber(ARGV[7])
local idem_ttl, token_ttl = tonumber(ARGV[8]), tonumber(ARGV[9])
local idem_stem, nonce_stem, ip_rate_stem, net_rate_stem, voter_stem, ip_stem =
  ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14], ARGV[15]
local names = {'accepted', 'duplicate', 'rate_limited', 'replayed', 'token_reused'}
local tally = {0, 0, 0, 0, 0}
local out = {minute}

-- GCRA: returns (0, new theoretical arrival time) when allowed, else (retry ms, 0).
local function gcra(key, interval, tolerance)
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now_ms then tat = now_ms end
  local allow_at = tat - tolerance
  if allow_at > now_ms then return allow_at - now_ms, 0 end
  return 0, tat + interval
end

-- Votes per option of this batch, added with one HINCRBY per option at the end.
local added = {}

for i = 1, n do
  local choices, voter, ip, net, idem, nonce, limited =
    string.match(ARGV[15 + i], '^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$')
  local outcome, retry = 1, 0

  if idem ~= '-' and redis.call('EXISTS', idem_stem .. idem) == 1 then
    outcome = 4
  elseif nonce ~= '-' and redis.call('EXISTS', nonce_stem .. nonce) == 1 then
    outcome = 5
  elseif limited == '1' then
    local ip_rate, net_rate = ip_rate_stem .. ip, net_rate_stem .. net
    local ip_tat, net_tat = 0, 0
    retry, ip_tat = gcra(ip_rate, ip_int, ip_tol)
    if retry == 0 then retry, net_tat = gcra(net_rate, net_int, net_tol) end
    if retry > 0 then
      outcome = 3
    else
      -- Every attempt that passes the limiter spends budget, duplicates included.
      redis.call('SET', ip_rate, ip_tat, 'PX', ip_tat - now_ms + 1000)
      redis.call('SET', net_rate, net_tat, 'PX', net_tat - now_ms + 1000)
    end
  end

  -- De-duplication marks are checked and set in one step (SET NX); a second mark that
  -- is refused takes the first back, so a refused vote leaves no mark behind.
  if outcome == 1 and voter_ttl > 0 then
    if not redis.call('SET', voter_stem .. voter, '1', 'EX', voter_ttl, 'NX') then
      outcome = 2
    end
  end
  if outcome == 1 and ip_ttl > 0 then
    if not redis.call('SET', ip_stem .. ip, '1', 'EX', ip_ttl, 'NX') then
      outcome = 2
      if voter_ttl > 0 then redis.call('DEL', voter_stem .. voter) end
    end
  end

  if outcome == 1 then
    if idem ~= '-' then redis.call('SET', idem_stem .. idem, '1', 'EX', idem_ttl) end
    if nonce ~= '-' then redis.call('SET', nonce_stem .. nonce, '1', 'EX', token_ttl) end
    for option in string.gmatch(choices, '[^,]+') do
      added[option] = (added[option] or 0) + 1
    end
  end
  tally[outcome] = tally[outcome] + 1
  out[#out + 1] = outcome
  out[#out + 1] = retry
end

for option, votes in pairs(added) do
  redis.call('HINCRBY', KEYS[1], option, votes)
end
for j = 1, 5 do
  if tally[j] > 0 then redis.call('HINCRBY', KEYS[2], names[j], tally[j]) end
end
if tally[1] > 0 then redis.call('HINCRBY', KEYS[3], minute, tally[1]) end
local counts = redis.call('HGETALL', KEYS[1])
for j = 1, #counts do out[#out + 1] = counts[j] end
return out
