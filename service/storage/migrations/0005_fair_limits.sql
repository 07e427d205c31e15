-- Migration 0005: released as schema.sql's version 5 (history: never edit).
-- Written for the old apply-everything runner, so every statement is idempotent.

-- Version 5: fair limits. A vote over an address's or network's limit is asked for a proof
-- of work and counted when solved within budget; otherwise it is held: kept in the ledger
-- with state 'held' and why, out of the tally until an editor releases or discards it.
-- A site's thresholds live in one JSON object (defaults in service/polls/model.Limits).

ALTER TABLE votes ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'counted';
ALTER TABLE votes DROP CONSTRAINT IF EXISTS votes_state_check;
ALTER TABLE votes ADD CONSTRAINT votes_state_check
    CHECK (state IN ('counted', 'held', 'released', 'discarded'));
ALTER TABLE votes ADD COLUMN IF NOT EXISTS hold_reason text;
ALTER TABLE votes ADD COLUMN IF NOT EXISTS reviewed_at timestamptz;
CREATE INDEX IF NOT EXISTS votes_held ON votes (poll_id, cast_at) WHERE state = 'held';
ALTER TABLE sites ADD COLUMN IF NOT EXISTS limits jsonb NOT NULL DEFAULT '{}';
