-- transactional: false
-- Migration 0007: readers' reports count once per network, and the comment quota counts
-- per network as well as per reader (docs/security/reports.md). The previous release
-- never names the new column; the indexes serve only the new queries. Outside a
-- transaction, so the indexes on these growing tables build CONCURRENTLY. Reports stored
-- before this migration have no network and do not count toward the new threshold.

ALTER TABLE comment_reports ADD COLUMN IF NOT EXISTS network_hash text;
CREATE INDEX CONCURRENTLY IF NOT EXISTS comment_reports_network
    ON comment_reports (comment_id, network_hash);
CREATE INDEX CONCURRENTLY IF NOT EXISTS comments_poll_network
    ON comments (poll_id, network_hash) WHERE vote_id IS NULL;
