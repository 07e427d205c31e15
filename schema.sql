-- civicpoll schema. Applied at every start under an advisory lock; every statement is
-- idempotent, and later versions only add (tables, columns with defaults, indexes), so
-- applying this file to a database of an older version upgrades it without losing rows.
-- Bump the version at the bottom when you change anything here.

CREATE TABLE IF NOT EXISTS schema_version (
    version     integer PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- Version 1: sites, tokens, polls, options, audit log.

CREATE TABLE IF NOT EXISTS sites (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug            text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name            text NOT NULL,
    allowed_origins text[] NOT NULL DEFAULT '{}',
    default_locale  text NOT NULL DEFAULT 'vi' CHECK (default_locale IN ('vi', 'en')),
    -- HMAC key for voter ids signed by the host portal ("verified" polls).
    voter_secret    text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS api_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_hash    text NOT NULL UNIQUE,
    label         text NOT NULL DEFAULT '',
    scopes        text[] NOT NULL,
    site_id       bigint REFERENCES sites (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

CREATE TABLE IF NOT EXISTS polls (
    id                 text PRIMARY KEY,
    site_id            bigint NOT NULL REFERENCES sites (id) ON DELETE RESTRICT,
    question           text NOT NULL,
    description        text NOT NULL DEFAULT '',
    kind               text NOT NULL DEFAULT 'single' CHECK (kind IN ('single', 'multiple')),
    min_choices        integer NOT NULL DEFAULT 1,
    max_choices        integer NOT NULL DEFAULT 1,
    locale             text NOT NULL DEFAULT 'vi' CHECK (locale IN ('vi', 'en')),
    status             text NOT NULL DEFAULT 'draft'
                       CHECK (status IN ('draft', 'open', 'closed', 'archived')),
    opens_at           timestamptz,
    closes_at          timestamptz,
    results_visibility text NOT NULL DEFAULT 'always'
                       CHECK (results_visibility IN ('always', 'after_vote', 'after_close', 'never')),
    dedupe_mode        text NOT NULL DEFAULT 'cookie'
                       CHECK (dedupe_mode IN ('none', 'cookie', 'ip', 'cookie_ip', 'verified')),
    dedupe_window_hours integer NOT NULL DEFAULT 24,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS polls_site_status ON polls (site_id, status, created_at DESC);

CREATE TABLE IF NOT EXISTS poll_options (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    poll_id   text NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
    position  integer NOT NULL,
    label     text NOT NULL,
    UNIQUE (poll_id, position) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE IF NOT EXISTS audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    token_id    bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    object_type text NOT NULL,
    object_id   text NOT NULL,
    before      jsonb,
    after       jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_object ON audit_log (object_type, object_id, at);

INSERT INTO schema_version (version) VALUES (1) ON CONFLICT DO NOTHING;

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

INSERT INTO schema_version (version) VALUES (2) ON CONFLICT DO NOTHING;

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

INSERT INTO schema_version (version) VALUES (3) ON CONFLICT DO NOTHING;

-- Version 4: people of the editor console (e-mail, Argon2id hash, a role per site), their
-- server-side sessions, and failed sign-ins for throttling. The audit log names the person.

CREATE TABLE IF NOT EXISTS users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text NOT NULL CHECK (email = lower(email) AND length(email) <= 254),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'editor', 'moderator')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users (email);

-- The sites an editor or moderator works on (an admin works on every site).
CREATE TABLE IF NOT EXISTS user_sites (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    site_id bigint NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, site_id)
);

-- A session is its cookie's keyed hash: a database reader cannot sign in with it. Signing
-- out, a new password and disabling the person delete the rows.
CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash      text PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS console_sessions_user ON console_sessions (user_id);

-- Failed sign-ins, by keyed hashes of the e-mail given and of the client address.
CREATE TABLE IF NOT EXISTS login_failures (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    account_key text NOT NULL,
    address_key text NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_account ON login_failures (account_key, at);
CREATE INDEX IF NOT EXISTS login_failures_address ON login_failures (address_key, at);

ALTER TABLE audit_log ADD COLUMN IF NOT EXISTS user_id bigint REFERENCES users (id)
    ON DELETE SET NULL;
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);

INSERT INTO schema_version (version) VALUES (4) ON CONFLICT DO NOTHING;

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

INSERT INTO schema_version (version) VALUES (5) ON CONFLICT DO NOTHING;

-- Version 6: sign-in limits per client network too (/24 IPv4, /64 IPv6). A sign-in
-- reserves its row here before it hashes (service/console/throttle.py); a row from the
-- previous release's code has no network and counts for its account and address only.

ALTER TABLE login_failures ADD COLUMN IF NOT EXISTS network_key text NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS login_failures_network ON login_failures (network_key, at);

INSERT INTO schema_version (version) VALUES (6) ON CONFLICT DO NOTHING;
