-- Take back votes of ONE poll that the ledger did not keep.
--
-- KEYS[1] counts hash, KEYS[2] stats hash, KEYS[3] minutes hash (per-voter keys are
-- named from the same {p:ID} prefix, as in vote.lua)
-- ARGV[1] n votes; ARGV[2] the unix minute they were counted in;
-- ARGV[2 + i], one per vote: "choices voter ip idem nonce reason" (space separated)
--   reason 'failed': the ledger write failed; forget the vote, marks included
--   reason 'duplicate': the ledger already holds this voter's vote (Redis had lost the
--                      mark): keep the marks, move the attempt from accepted to duplicate
-- Returns n.
local prefix = string.sub(KEYS[1], 1, -2)
local n = tonumber(ARGV[1])
for i = 1, n do
  local choices, voter, ip, idem, nonce, reason =
    string.match(ARGV[2 + i], '^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$')
  for option in string.gmatch(choices, '[^,]+') do
    redis.call('HINCRBY', KEYS[1], option, -1)
  end
  redis.call('HINCRBY', KEYS[3], ARGV[2], -1)
  redis.call('HINCRBY', KEYS[2], 'accepted', -1)
  if reason == 'failed' then
    redis.call('DEL', prefix .. 'v:' .. voter, prefix .. 'i:' .. ip, prefix .. 'k:' .. idem,
               prefix .. 't:' .. nonce)
    redis.call('HINCRBY', KEYS[2], 'failed', 1)
  else
    redis.call('HINCRBY', KEYS[2], 'duplicate', 1)
  end
end
return n
