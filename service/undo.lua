-- Take back votes that the ledger did not keep, for ONE poll.
--
-- KEYS[1] counts hash, KEYS[2] stats hash, KEYS[3] minutes hash,
-- then 4 keys per vote: voter mark, ip mark, idempotency key, token nonce key
-- ARGV[1] number of votes n; ARGV[2] unix minute the votes were counted in;
-- then 2 fields per vote: choices (comma list), reason
--   reason 'failed': the ledger write failed; forget the vote entirely (marks included)
--   reason 'duplicate': the ledger already holds this voter's vote (Redis had lost the
--                      mark); keep the marks, move the attempt from accepted to duplicate
-- Returns the number of votes taken back.
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local k = 3 + i * 4
  local choices, reason = ARGV[3 + i * 2], ARGV[4 + i * 2]
  for option in string.gmatch(choices, '[^,]+') do
    redis.call('HINCRBY', KEYS[1], option, -1)
  end
  redis.call('HINCRBY', KEYS[3], ARGV[2], -1)
  redis.call('HINCRBY', KEYS[2], 'accepted', -1)
  if reason == 'failed' then
    redis.call('DEL', KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4])
    redis.call('HINCRBY', KEYS[2], 'failed', 1)
  else
    redis.call('HINCRBY', KEYS[2], 'duplicate', 1)
  end
end
return n
