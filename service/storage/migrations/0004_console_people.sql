-- Migration 0004: released as schema.sql's version 4 (history: never edit).
-- Written for the old apply-everything runner, so every statement is idempotent.

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
