-- 0005: admin UI sessions. The cookie holds a random id; only its SHA-256 is stored, like API tokens.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,          -- sent back in X-CSRF-Token by state-changing requests
    created_at TEXT NOT NULL,          -- RFC 3339, bound by Blink
    expires_at TEXT NOT NULL
);

CREATE INDEX sessions_expires_at_index ON sessions (expires_at);
