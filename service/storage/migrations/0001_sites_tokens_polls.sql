-- Migration 0001: released as schema.sql's version 1 (history: never edit).
-- Written for the old apply-everything runner, so every statement is idempotent.

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
