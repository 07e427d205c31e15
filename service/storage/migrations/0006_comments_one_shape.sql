-- transactional: false
-- Migration 0006: every released database gets the same comments table. Version 3 was
-- edited after its first release (commit 587dafd): a database made by that code has an
-- author column (dedupe_key) and its index, and lacks the three indexes that replaced
-- them. Neither this release nor the previous one reads dedupe_key, so dropping it is a
-- safe contract step. Outside a transaction, so the indexes build CONCURRENTLY; on a
-- database that already has them each statement is a no-op.

CREATE INDEX CONCURRENTLY IF NOT EXISTS comments_poll_time
    ON comments (poll_id, created_at DESC, id DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS comments_poll_voter
    ON comments (poll_id, voter_hash) WHERE vote_id IS NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS comments_poll_ip
    ON comments (poll_id, ip_hash) WHERE vote_id IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS comments_poll_author;
ALTER TABLE comments DROP COLUMN IF EXISTS dedupe_key;
