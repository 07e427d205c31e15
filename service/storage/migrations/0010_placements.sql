-- Migration 0010: placements map a site's page URLs (one exact URL, or a prefix ending in
-- "*") to the poll shown there, so one snippet in an article template serves every
-- article. A new table: nothing the previous release reads changes, and its indexes are
-- built on an empty table.

CREATE TABLE IF NOT EXISTS placements (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id    bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    poll_id    text NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    -- A canonical page URL (core/urls.canonical_page_url), with a trailing "*" for a prefix.
    match      text NOT NULL CHECK (length(match) BETWEEN 1 AND 501),
    priority   integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS placements_site ON placements (site_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS placements_poll ON placements (poll_id);
