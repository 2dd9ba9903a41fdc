-- 0005: admin UI sessions. The cookie holds a random id; only its SHA-256 is stored, like API tokens.
CREATE TABLE sessions (
    id_hash    text        PRIMARY KEY,
    user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token text        NOT NULL,   -- sent back in X-CSRF-Token by state-changing requests
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX sessions_expires_at_index ON sessions (expires_at);
