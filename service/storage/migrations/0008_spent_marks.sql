-- transactional: false
-- Migration 0008 (wt-votefaults): a spent proof of work and a used widget token stay spent
-- when Redis forgets (docs/operations/recovery.md). The vote row names the ALTCHA proof it
-- spent (the challenge's signature, itself an HMAC of ours) and its widget token's nonce,
-- written in the vote's own INSERT; the unique index refuses a second vote on one proof
-- while Redis has lost its marks, and a rebuild restores the marks of proofs and nonces
-- still within their lifetime and the "tokened" figure. The previous release never names
-- the columns; outside a transaction, so the index on the ledger builds CONCURRENTLY.

ALTER TABLE votes ADD COLUMN IF NOT EXISTS proof_key text;
ALTER TABLE votes ADD COLUMN IF NOT EXISTS token_nonce text;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS votes_proof_once ON votes (poll_id, proof_key)
    WHERE proof_key IS NOT NULL;
