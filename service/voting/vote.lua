-- Decide a batch of votes for ONE poll, atomically: rate limits (GCRA per client IP and
-- per network), idempotent replay, single-use form token, de-duplication, counting.
-- Arguments are encoded by service/voting/wire.py (decide_args); key names come from
-- service/voting/keys.py: this script spells none.
--
-- KEYS[1] counts hash  {p:ID}:c  (option id -> votes)
-- KEYS[2] stats hash   {p:ID}:s  (outcome -> attempts)
-- KEYS[3] minutes hash {p:ID}:m  (unix minute -> accepted votes)
-- KEYS[4] rebuild flag {p:ID}:b  (present while the counts are rebuilt from the ledger)
-- ARGV[1] n votes
-- ARGV[2] deadline, unix ms in Redis's clock: a call run later (Redis stalled, the engine
--   has answered 503 and given up on it) decides nothing, so a voter told "try again"
--   is not then refused as having voted
-- ARGV[3..6] GCRA ip interval ms, ip tolerance ms, network interval ms, network tolerance ms
-- ARGV[7] voter mark ttl s (0: no voter check); ARGV[8] ip mark ttl s (0: no ip check);
--   ARGV[9] idempotency ttl s; ARGV[10] token nonce ttl s
-- ARGV[11..16] key stems (stem .. member = key): idempotency, token nonce, ip rate,
--   network rate, voter mark, ip mark. Every stem carries the poll's {p:ID} hash tag, as
--   KEYS do, so each key this script touches lives in the poll's cluster slot. Only the
--   poll's own keys are declared as KEYS: declaring the per-member keys as well would cost
--   up to six more KEYS per vote, on every call.
-- Fair limits (README "Fair limits"), read only by a vote over a rate limit:
-- ARGV[17..18] GCRA solved interval ms, solved tolerance ms (votes carrying a proof);
--   ARGV[19] proof mark ttl s; ARGV[20] signal window s; ARGV[21] hold tokenless (1/0);
--   ARGV[22] widget votes before a poll counts as embedded; ARGV[23..24] flood share %,
--   flood min attempts; ARGV[25..26] regular min votes, regular jitter %;
--   ARGV[27] skew points (an address's share of one option this far above the poll's is a
--   flood); ARGV[28..30] key stems: solved rate, proof mark, signals; ARGV[31] the counts
--   hash's held field
-- ARGV[31 + i], one per vote: "choices voter ip net idem nonce limited proof fresh ua form"
--   (space separated; choices a comma list of option ids; '-' for an absent idem/nonce/
--   proof; limited, fresh (a new voter cookie), form (the no-JavaScript path) 1 or 0; ua
--   the browser family or '-'; proof the spent-mark id of a verified ALTCHA solution)
-- Returns {now, outcome_1, detail_1, ..., outcome_n, detail_n, counts (HGETALL)...}
--   now: unix ms in Redis's clock, the time the votes were decided (their ledger ids carry
--   it, so a rebuild can tell the votes this Redis decided from older ones)
--   outcome: 1 accepted, 2 duplicate, 3 rate limited (address), 4 idempotent replay,
--   5 token reused, 6 rate limited (network), 7 idempotency key reused for another request,
--   8 challenge (address), 9 challenge (network), 10 held, 11 proof reused
--   detail: retry ms (3, 6), the pressure: over-limit attempts in the window (8, 9), the
--   hold reason: 1 budget, 2 no token, 3 flood, 4 regular, 5 no script (10); plus 16 (1, 10)
--   when the vote spent its proof (a refused vote gives its proof back: the mark is removed)
--   or {-1} past the deadline, {-2} while the counts are rebuilt: nothing decided
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now_ms > tonumber(ARGV[2]) then return {-1} end
if redis.call('EXISTS', KEYS[4]) == 1 then return {-2} end
local minute = tostring(math.floor(tonumber(t[1]) / 60))
-- When this Redis first decided a vote of the poll: a rebuild after Redis lost its memory
-- waits until the votes decided since then are in the ledger (counts.settle_elsewhere).
redis.call('HSETNX', KEYS[2], 'since', now_ms)
local n = tonumber(ARGV[1])
local ip_int, ip_tol = tonumber(ARGV[3]), tonumber(ARGV[4])
local net_int, net_tol = tonumber(ARGV[5]), tonumber(ARGV[6])
local voter_ttl, ip_ttl = tonumber(ARGV[7]), tonumber(ARGV[8])
local idem_ttl, token_ttl = tonumber(ARGV[9]), tonumber(ARGV[10])
local idem_stem, nonce_stem, ip_rate_stem, net_rate_stem, voter_stem, ip_stem =
  ARGV[11], ARGV[12], ARGV[13], ARGV[14], ARGV[15], ARGV[16]
local names = {
  'accepted', 'duplicate', 'rate_limited', 'replayed', 'token_reused', 'rate_limited', 'invalid',
  'challenged', 'challenged', 'held', 'invalid'
}
local tally = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
local solved, tokened = 0, 0
local spent = nil  -- the proof mark the current vote set, if any
local out = {now_ms}

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

-- Over a limit a vote is never refused for its address: without a proof it is asked for
-- one (8, 9; the no-JavaScript form cannot solve, so it is held), with one it counts
-- within the address's solved budget, and it is held beyond it or when a signal says
-- stuffing. Returns (outcome, detail) as the reply spells them, or (1, 0) to count
-- and (1, reason) to go on as a vote that will be held.
local embedded = nil
local function over_limit(over, ip, choices, proof, fresh, ua, form, idem)
  local sig = ARGV[30] .. ip
  local total = redis.call('HINCRBY', sig, '_n', 1)
  local same = redis.call('HINCRBY', sig, ua .. '|' .. choices, 1)
  if total == 1 then redis.call('EXPIRE', sig, tonumber(ARGV[20])) end
  local regular = false
  if fresh == '1' then
    -- Fresh cookies arriving at steady intervals: the mean gap and its mean deviation,
    -- moving averages (1/8) in ms; a crowd's gaps spread about as much as their mean.
    local st = redis.call('HMGET', sig, '_t', '_m', '_d', '_k')
    local k = tonumber(st[4] or '0') + 1
    if st[1] then
      local gap = now_ms - tonumber(st[1])
      local mean = tonumber(st[2] or gap)
      local dev = tonumber(st[3] or mean)
      mean = mean + (gap - mean) / 8
      dev = dev + (math.abs(gap - mean) - dev) / 8
      redis.call('HSET', sig, '_t', now_ms, '_m', mean, '_d', dev, '_k', k)
      regular = k >= tonumber(ARGV[25]) and dev * 100 < tonumber(ARGV[26]) * mean
    else
      redis.call('HSET', sig, '_t', now_ms, '_k', k)
    end
  end
  local least, share = tonumber(ARGV[24]), tonumber(ARGV[23])
  local flood = total >= least and same * 100 >= share * total
  -- One option flooding from one address in any disguise (browser families rotated): its
  -- share of the address's attempts far above the option's share of the poll's tally.
  local option_n = redis.call('HINCRBY', sig, 'o:' .. choices, 1)
  if not flood and total >= least and option_n * 100 >= share * total
      and not string.find(choices, ',', 1, true) then
    local counts, all, mine = redis.call('HGETALL', KEYS[1]), 0, 0
    for j = 1, #counts, 2 do
      if counts[j] ~= ARGV[31] then
        all = all + tonumber(counts[j + 1])
        if counts[j] == choices then mine = tonumber(counts[j + 1]) end
      end
    end
    flood = option_n * 100 / total - (all > 0 and mine * 100 / all or 0) >= tonumber(ARGV[27])
  end
  if flood or regular then
    -- An address found stuffing loses its free budget for the window: its votes stay on
    -- this path (challenged, then held) instead of slipping through at the plain rate.
    local until_ms = now_ms + ip_tol + tonumber(ARGV[20]) * 1000
    redis.call('SET', ip_rate_stem .. ip, until_ms, 'PX', until_ms - now_ms + 1000)
  end
  if proof == '-' then
    if form == '1' then return 1, 5 end
    return over == 3 and 8 or 9, total
  end
  -- A retry of a vote already decided (its idempotency key is marked) is a replay, or a
  -- reused key, whatever its proof says: the checks below answer it.
  if idem ~= '-' and redis.call('EXISTS', idem_stem .. idem) == 1 then return 1, 0 end
  if not redis.call('SET', ARGV[29] .. proof, '1', 'EX', tonumber(ARGV[19]), 'NX') then
    return 11, 0
  end
  spent = ARGV[29] .. proof
  if flood then return 1, 3 end
  if regular then return 1, 4 end
  local rate = ARGV[28] .. ip
  local wait, tat = gcra(rate, tonumber(ARGV[17]), tonumber(ARGV[18]))
  if wait > 0 then return 1, 1 end
  redis.call('SET', rate, tat, 'PX', tat - now_ms + 1000)
  return 1, 0
end

for i = 1, n do
  local choices, voter, ip, net, idem, nonce, limited, proof, fresh, ua, form =
    string.match(
      ARGV[31 + i], '^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$'
    )
  local outcome, retry = 1, 0
  local hold = 0
  -- The request an idempotency mark answers (wire.fingerprint spells the same).
  local request = choices .. ' ' .. voter

  -- Every attempt spends rate budget, replays and duplicates included: a replayed key
  -- must not be a way around the limits.
  if limited == '1' then
    local ip_rate, net_rate = ip_rate_stem .. ip, net_rate_stem .. net
    local ip_tat, net_tat = 0, 0
    retry, ip_tat = gcra(ip_rate, ip_int, ip_tol)
    if retry > 0 then
      outcome = 3
    else
      retry, net_tat = gcra(net_rate, net_int, net_tol)
      if retry > 0 then outcome = 6 end
    end
    if outcome == 1 then
      redis.call('SET', ip_rate, ip_tat, 'PX', ip_tat - now_ms + 1000)
      redis.call('SET', net_rate, net_tat, 'PX', net_tat - now_ms + 1000)
    else
      outcome, retry = over_limit(outcome, ip, choices, proof, fresh, ua, form, idem)
      if outcome == 1 then hold, retry = retry, 0 end
    end
  end
  -- A vote without a widget token on a poll that takes widget votes (its site embeds
  -- the widget) is held at any rate; a site whose API clients vote turns this off.
  if outcome == 1 and hold == 0 and nonce == '-' and limited == '1' and ARGV[21] == '1' then
    if embedded == nil then
      embedded = tonumber(redis.call('HGET', KEYS[2], 'tokened') or '0') >= tonumber(ARGV[22])
    end
    if embedded then hold = 2 end
  end

  if outcome == 1 and idem ~= '-' then
    local seen = redis.call('GET', idem_stem .. idem)
    -- '1': a mark written before marks held their request; taken as the same request.
    if seen == request or seen == '1' then
      outcome = 4
    elseif seen then
      outcome = 7
    end
  end
  if outcome == 1 and nonce ~= '-' and redis.call('EXISTS', nonce_stem .. nonce) == 1 then
    outcome = 5
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
    if idem ~= '-' then redis.call('SET', idem_stem .. idem, request, 'EX', idem_ttl) end
    if nonce ~= '-' then redis.call('SET', nonce_stem .. nonce, '1', 'EX', token_ttl) end
    if hold > 0 then
      -- A held vote keeps its marks (it is this voter's vote) but stays out of the tally.
      outcome, retry = 10, hold
      added[ARGV[31]] = (added[ARGV[31]] or 0) + 1
    else
      if nonce ~= '-' then tokened = tokened + 1 end
      for option in string.gmatch(choices, '[^,]+') do
        added[option] = (added[option] or 0) + 1
      end
    end
  end
  if spent then
    -- Only a vote that goes on to the ledger spends its proof; one refused here (a
    -- duplicate, a reused token) leaves it as it was.
    if outcome == 1 or outcome == 10 then
      solved = solved + 1
      retry = retry + 16
    else
      redis.call('DEL', spent)
    end
    spent = nil
  end
  tally[outcome] = tally[outcome] + 1
  out[#out + 1] = outcome
  out[#out + 1] = retry
end

for option, votes in pairs(added) do
  redis.call('HINCRBY', KEYS[1], option, votes)
end
for j = 1, 11 do
  if tally[j] > 0 then redis.call('HINCRBY', KEYS[2], names[j], tally[j]) end
end
if solved > 0 then redis.call('HINCRBY', KEYS[2], 'solved', solved) end
if tokened > 0 then redis.call('HINCRBY', KEYS[2], 'tokened', tokened) end
if tally[1] > 0 then redis.call('HINCRBY', KEYS[3], minute, tally[1]) end
local counts = redis.call('HGETALL', KEYS[1])
for j = 1, #counts do out[#out + 1] = counts[j] end
return out
