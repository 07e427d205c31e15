-- transactional: false
-- Migration 0009: sign-in limits per client network too (/24 IPv4, /64 IPv6). A sign-in
-- reserves its row in login_failures before it hashes (service/console/throttle.py); a
-- row written by the previous release has no network ('') and counts for its account and
-- address only. A constant default adds the column without rewriting the table; the
-- index builds CONCURRENTLY, outside a transaction.

ALTER TABLE login_failures ADD COLUMN IF NOT EXISTS network_key text NOT NULL DEFAULT '';
CREATE INDEX CONCURRENTLY IF NOT EXISTS login_failures_network
    ON login_failures (network_key, at);
