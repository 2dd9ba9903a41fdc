-- 0006: single sign-on. Only adds: two columns to `sessions`, and three small tables.

-- When the session was last used (for the idle timeout; refreshed at most about once a minute), and the identity
-- provider's ID token it was started with (sent back as `id_token_hint` at sign-out). NULL for older sessions and
-- for sessions started by a login link.
ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz;
ALTER TABLE sessions ADD COLUMN id_token text;

-- Ending every session of a user at once (deactivation).
CREATE INDEX sessions_user_id_index ON sessions (user_id);

-- A sign-in in progress with the identity provider: created by GET /auth/login, consumed (deleted) by the
-- callback, so each `state` works once. Lives about 10 minutes.
CREATE TABLE login_states (
    state_hash    text        PRIMARY KEY,   -- SHA-256 of the `state` parameter, lowercase hex
    binding_hash  text        NOT NULL,      -- HMAC (SESSION_SECRET) of the `blink_login` cookie that started it
    nonce         text        NOT NULL,      -- the ID token must carry it back
    pkce_verifier text        NOT NULL,      -- PKCE code verifier (S256), sent with the code exchange
    next_path     text        NOT NULL,      -- same-origin path to return to after sign-in
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL
);

CREATE INDEX login_states_expires_at_index ON login_states (expires_at);

-- Single-use sign-in links made by `blink users login-link` (first trial, break-glass). Only the hash is kept.
CREATE TABLE login_links (
    token_hash text        PRIMARY KEY,                                        -- SHA-256 of the link's token
    user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,   -- who it signs in
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz                                                     -- NULL until used; works once
);

-- Secrets Blink generated itself and every instance must share, e.g. `session` when SESSION_SECRET is unset.
CREATE TABLE server_secrets (
    name       text        PRIMARY KEY,
    value      text        NOT NULL,
    created_at timestamptz NOT NULL
);
