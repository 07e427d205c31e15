-- Take back votes of ONE poll that the ledger did not keep.
-- Arguments are encoded by service/voting/wire.py (undo_args); key names come from
-- service/voting/keys.py: this script spells none.
--
-- KEYS[1] counts hash {p:ID}:c, KEYS[2] stats hash {p:ID}:s, KEYS[3] minutes hash {p:ID}:m
-- ARGV[1] n votes; ARGV[2] the unix minute they were counted in
-- ARGV[3..7] key stems (stem .. member = key): voter mark, ip mark, idempotency, token
--   nonce, proof mark; each carries the poll's {p:ID} hash tag, so every key lives in the
--   KEYS' slot
-- ARGV[8] the counts hash's held field
-- ARGV[8 + i], one per vote: "choices voter ip idem nonce proof reason" (space separated;
--   proof: the mark of the proof of work this vote spent, or '-'. Whatever the reason, a
--   vote the ledger did not keep gives its proof back: a reader answered 503 retries with
--   the same solution, and a proof the ledger holds for another vote is refused there)
--   reason 'failed': the ledger write failed; forget the vote, marks included
--   reason 'duplicate': the ledger already holds this voter's vote (Redis had lost the
--                      mark): keep the marks, move the attempt from accepted to duplicate
--   either with '_held': a held vote, which was added to the held field, not the counts
-- Returns n.
local n = tonumber(ARGV[1])
local voter_stem, ip_stem, idem_stem, nonce_stem, proof_stem =
  ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
for i = 1, n do
  local choices, voter, ip, idem, nonce, proof, reason =
    string.match(ARGV[8 + i], '^(%S+) (%S+) (%S+) (%S+) (%S+) (%S+) (%S+)$')
  if proof ~= '-' then
    redis.call('DEL', proof_stem .. proof)
    redis.call('HINCRBY', KEYS[2], 'solved', -1)
  end
  if string.sub(reason, -5) == '_held' then
    redis.call('HINCRBY', KEYS[1], ARGV[8], -1)
    redis.call('HINCRBY', KEYS[2], 'held', -1)
  else
    for option in string.gmatch(choices, '[^,]+') do
      redis.call('HINCRBY', KEYS[1], option, -1)
    end
    redis.call('HINCRBY', KEYS[3], ARGV[2], -1)
    redis.call('HINCRBY', KEYS[2], 'accepted', -1)
  end
  if string.sub(reason, 1, 6) == 'failed' then
    redis.call('DEL', voter_stem .. voter, ip_stem .. ip, idem_stem .. idem, nonce_stem .. nonce)
    redis.call('HINCRBY', KEYS[2], 'failed', 1)
  else
    redis.call('HINCRBY', KEYS[2], 'duplicate', 1)
  end
end
return n
