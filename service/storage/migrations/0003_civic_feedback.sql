-- Migration 0003: released as schema.sql's version 3 (history: never edit).
-- Written for the old apply-everything runner, so every statement is idempotent.

-- Version 3: civic feedback. Rating kinds (rating, nps, likert) keep one option row per
-- scale value, so that a rating vote is a vote: same decide stage, ledger and counts. An
-- option may take the voter's own words ("other"); a poll may take comments, which wait
-- in a moderation queue with their authors kept as keyed hashes only.

ALTER TABLE polls DROP CONSTRAINT IF EXISTS polls_kind_check;
ALTER TABLE polls ADD CONSTRAINT polls_kind_check
    CHECK (kind IN ('single', 'multiple', 'rating', 'nps', 'likert'));
ALTER TABLE polls ADD COLUMN IF NOT EXISTS scale text NOT NULL DEFAULT 'stars'
    CHECK (scale IN ('stars', 'number'));
ALTER TABLE polls ADD COLUMN IF NOT EXISTS scale_range integer NOT NULL DEFAULT 5
    CHECK (scale_range BETWEEN 3 AND 11);
ALTER TABLE polls ADD COLUMN IF NOT EXISTS low_label text NOT NULL DEFAULT '';
ALTER TABLE polls ADD COLUMN IF NOT EXISTS high_label text NOT NULL DEFAULT '';
ALTER TABLE polls ADD COLUMN IF NOT EXISTS comments text NOT NULL DEFAULT 'off'
    CHECK (comments IN ('off', 'premoderated', 'postmoderated'));
ALTER TABLE polls ADD COLUMN IF NOT EXISTS max_comments_per_voter integer NOT NULL DEFAULT 1
    CHECK (max_comments_per_voter BETWEEN 1 AND 10);
ALTER TABLE poll_options ADD COLUMN IF NOT EXISTS value integer;
ALTER TABLE poll_options ADD COLUMN IF NOT EXISTS other boolean NOT NULL DEFAULT false;

CREATE TABLE IF NOT EXISTS comments (
    id             uuid PRIMARY KEY,
    poll_id        text NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    -- The vote whose "other" option carried this text; NULL for a comment of its own.
    vote_id        uuid REFERENCES votes (id) ON DELETE SET NULL,
    body           text NOT NULL,
    name           text NOT NULL DEFAULT '',
    state          text NOT NULL
                   CHECK (state IN ('pending', 'published', 'rejected', 'held', 'spam')),
    -- Why it is in that state: a filter's reason code, "reports", or a moderator's.
    reason         text NOT NULL DEFAULT '',
    detail         text NOT NULL DEFAULT '',
    -- The state before the last moderation, for "restore".
    previous_state text,
    fingerprint    text NOT NULL,
    voter_hash     text,
    ip_hash        text,
    network_hash   text,
    page_url       text,
    reports        integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS comments_poll_state ON comments (poll_id, state, created_at, id);
-- Newest first for readers; per author for "one comment per voter" (own words excluded).
CREATE INDEX IF NOT EXISTS comments_poll_time ON comments (poll_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS comments_poll_voter ON comments (poll_id, voter_hash)
    WHERE vote_id IS NULL;
CREATE INDEX IF NOT EXISTS comments_poll_ip ON comments (poll_id, ip_hash) WHERE vote_id IS NULL;
CREATE INDEX IF NOT EXISTS comments_vote ON comments (vote_id) WHERE vote_id IS NOT NULL;

-- One report per reader per comment: three distinct readers hold it for review.
CREATE TABLE IF NOT EXISTS comment_reports (
    comment_id  uuid NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
    voter_hash  text NOT NULL,
    reason      text NOT NULL CHECK (reason IN ('spam', 'offensive', 'off_topic')),
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (comment_id, voter_hash)
);
