-- 0004: personal API tokens (`Authorization: Bearer blink_…`). The token itself is shown once, at creation, and
-- never stored: only its SHA-256, which is what a request's token is looked up by.
-- Timestamps are RFC 3339 text bound by Blink, so they compare correctly as strings.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,                              -- never reused
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,      -- the token acts as this user
    name         TEXT    NOT NULL,           -- what it is for, chosen by its owner
    token_prefix TEXT    NOT NULL,           -- the token's first characters, so listings can tell tokens apart
    token_hash   TEXT    NOT NULL UNIQUE,    -- SHA-256 of the whole token, lowercase hex
    scopes       TEXT    NOT NULL,           -- space-separated `resource:action` scopes
    expires_at   TEXT,                       -- NULL never expires
    last_used_at TEXT,                       -- refreshed at most about once a minute
    revoked_at   TEXT,                       -- NULL while the token works
    created_at   TEXT    NOT NULL
);

-- Listing one user's tokens (and the cascade when a user is deleted).
CREATE INDEX api_tokens_user_id_index ON api_tokens (user_id);
