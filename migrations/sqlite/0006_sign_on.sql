-- 0006: single sign-on. Only adds: two columns to `sessions`, and three small tables.
-- Timestamps are RFC 3339 text bound by Blink, so they compare correctly as strings.

-- When the session was last used (for the idle timeout; refreshed at most about once a minute), and the identity
-- provider's ID token it was started with (sent back as `id_token_hint` at sign-out). NULL for older sessions and
-- for sessions started by a login link.
ALTER TABLE sessions ADD COLUMN last_seen_at TEXT;
ALTER TABLE sessions ADD COLUMN id_token TEXT;

-- Ending every session of a user at once (deactivation).
CREATE INDEX sessions_user_id_index ON sessions (user_id);

-- A sign-in in progress with the identity provider: created by GET /auth/login, consumed (deleted) by the
-- callback, so each `state` works once. Lives about 10 minutes.
CREATE TABLE login_states (
    state_hash    TEXT PRIMARY KEY,   -- SHA-256 of the `state` parameter, lowercase hex
    binding_hash  TEXT NOT NULL,      -- HMAC (SESSION_SECRET) of the `blink_login` cookie that started it
    nonce         TEXT NOT NULL,      -- the ID token must carry it back
    pkce_verifier TEXT NOT NULL,      -- PKCE code verifier (S256), sent with the code exchange
    next_path     TEXT NOT NULL,      -- same-origin path to return to after sign-in
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL
);

CREATE INDEX login_states_expires_at_index ON login_states (expires_at);

-- Single-use sign-in links made by `blink users login-link` (first trial, break-glass). Only the hash is kept.
CREATE TABLE login_links (
    token_hash TEXT PRIMARY KEY,                                        -- SHA-256 of the link's token
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,   -- who it signs in
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT                                                     -- NULL until used; a link works once
);

-- Secrets Blink generated itself and every instance must share, e.g. `session` when SESSION_SECRET is unset.
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
