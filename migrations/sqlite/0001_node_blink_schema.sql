-- 0001: the same tables as Node Blink's PostgreSQL schema, in SQLite's types.

-- People who sign in, plus the `api` superuser that acts for OAuth2 JWT clients.
CREATE TABLE users (
    id          TEXT PRIMARY KEY,                  -- the identity provider's subject
    role        TEXT NOT NULL DEFAULT 'user',      -- 'user' or 'superuser'
    name        TEXT,
    deactivated BOOLEAN NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

INSERT INTO users (id, role, name) VALUES ('api', 'superuser', 'API Client');

-- Short links. The automatic slug is the hashid of `id`, so AUTOINCREMENT: a deleted link's id (and with it
-- its short URL) must never be handed to another link.
CREATE TABLE links (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    hash         TEXT UNIQUE,                      -- the optional brand slug
    original_url TEXT NOT NULL UNIQUE,             -- normalized; the dedupe key
    creator_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    meta         TEXT,                             -- JSON
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE INDEX links_creator_id_index ON links (creator_id);
