-- Migration 0002: released as schema.sql's version 2 (history: never edit).
-- Written for the old apply-everything runner, so every statement is idempotent.

-- Version 2: vote ledger, per-site rate limits and network allowlist, widget token rule.

ALTER TABLE sites ADD COLUMN IF NOT EXISTS rate_per_ip_per_minute integer NOT NULL DEFAULT 10;
ALTER TABLE sites ADD COLUMN IF NOT EXISTS burst_per_ip integer NOT NULL DEFAULT 5;
ALTER TABLE sites ADD COLUMN IF NOT EXISTS rate_per_network_per_minute integer NOT NULL DEFAULT 300;
ALTER TABLE sites ADD COLUMN IF NOT EXISTS burst_per_network integer NOT NULL DEFAULT 100;
ALTER TABLE sites ADD COLUMN IF NOT EXISTS allowlisted_networks cidr[] NOT NULL DEFAULT '{}';
ALTER TABLE sites ADD COLUMN IF NOT EXISTS require_widget_token boolean NOT NULL DEFAULT false;
ALTER TABLE sites ADD COLUMN IF NOT EXISTS theme jsonb NOT NULL DEFAULT '{}';

-- The ledger: the truth behind every count. A vote row is written (and committed) before
-- the voter hears "accepted". Voter and IP appear only as keyed hashes.
CREATE TABLE IF NOT EXISTS votes (
    id              uuid PRIMARY KEY,
    poll_id         text NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    option_ids      bigint[] NOT NULL,
    cast_at         timestamptz NOT NULL DEFAULT now(),
    voter_hash      text,
    ip_hash         text,
    network_hash    text,
    -- De-duplication keys, filled only when the poll's mode de-duplicates on them; the
    -- unique indexes below keep a Redis that lost its memory from letting anyone vote twice.
    voter_key       text,
    ip_key          text,
    idempotency_key text,
    page_url        text,
    user_agent      text
);
CREATE INDEX IF NOT EXISTS votes_poll_time ON votes (poll_id, cast_at);
CREATE UNIQUE INDEX IF NOT EXISTS votes_voter_once ON votes (poll_id, voter_key)
    WHERE voter_key IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS votes_ip_once ON votes (poll_id, ip_key)
    WHERE ip_key IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS votes_idempotent ON votes (poll_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
