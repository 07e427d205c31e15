-- Votes leaving "held" after review: a release adds each vote's options to the counts and
-- takes it off the held figure, a discard only takes it off the held figure. Run after the
-- ledger committed the change, so a rebuild that starts later counts it from the ledger;
-- while a rebuild runs (its flag is up) nothing is applied, since the rebuild may already
-- have read the ledger with the change in it: the count is never added twice.
-- Key names come from service/voting/keys.py.
--
-- KEYS[1] counts hash {p:ID}:c (option id -> votes, and the held field)
-- KEYS[2] rebuild flag {p:ID}:b
-- ARGV[1] the held field's name; ARGV[2] votes leaving held;
-- ARGV[3..] one option id per released vote's choice (none for a discard)
-- Returns 1 when applied, 0 while the counts are rebuilt (the rebuild counts them).
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], -tonumber(ARGV[2]))
for i = 3, #ARGV do redis.call('HINCRBY', KEYS[1], ARGV[i], 1) end
return 1
