-- 0004: personal API tokens (`Authorization: Bearer blink_…`). The token itself is shown once, at creation, and
-- never stored: only its SHA-256, which is what a request's token is looked up by.
CREATE TABLE api_tokens (
    id           bigserial   PRIMARY KEY,
    user_id      text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,  -- the token acts as this user
    name         text        NOT NULL,            -- what it is for, chosen by its owner
    token_prefix text        NOT NULL,            -- the token's first characters, so listings can tell tokens apart
    token_hash   text        NOT NULL UNIQUE,     -- SHA-256 of the whole token, lowercase hex
    scopes       text        NOT NULL,            -- space-separated `resource:action` scopes
    expires_at   timestamptz,                     -- NULL never expires
    last_used_at timestamptz,                     -- refreshed at most about once a minute
    revoked_at   timestamptz,                     -- NULL while the token works
    created_at   timestamptz NOT NULL
);

-- Listing one user's tokens (and the cascade when a user is deleted).
CREATE INDEX api_tokens_user_id_index ON api_tokens (user_id);
