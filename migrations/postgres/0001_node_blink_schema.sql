-- 0001: Node Blink's schema, table for table and column for column, so that an existing Node Blink
-- database can be adopted in place (hence IF NOT EXISTS: on such a database this migration only records itself).

-- People who sign in, plus the `api` superuser that acts for OAuth2 JWT clients.
CREATE TABLE IF NOT EXISTS users (
    id          text PRIMARY KEY,                  -- the identity provider's subject
    role        text NOT NULL DEFAULT 'user',      -- 'user' or 'superuser'
    name        text,
    deactivated boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO users (id, role, name) VALUES ('api', 'superuser', 'API Client') ON CONFLICT (id) DO NOTHING;

-- Short links. The automatic slug is not stored: it is the hashid of `id`. `hash` is the optional brand slug.
CREATE TABLE IF NOT EXISTS links (
    id           serial PRIMARY KEY,
    hash         text UNIQUE,
    original_url text NOT NULL UNIQUE,             -- normalized; the dedupe key
    creator_id   text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    meta         jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS links_creator_id_index ON links (creator_id);
