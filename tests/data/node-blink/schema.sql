-- A Node Blink database as its last release left it on PostgreSQL: what `knex migrate:latest` creates on an empty
-- database from the three migrations in the `migrations/` folder of JaneJeon/blink's final tree. Older files in
-- that folder's history (emails, organizations, teams, update-timestamps, the first `users` and `api-users`) were
-- removed before the final release and are never run by an install of it. Written here as the SQL knex's
-- PostgreSQL dialect sends, with knex's own names for constraints and indexes; `data.sql` fills it in.

-- knex's bookkeeping, created before the first migration runs: one row per applied migration file, and the lock
-- row `knex migrate` flips while it works.
CREATE TABLE knex_migrations (
    id             serial PRIMARY KEY,
    name           varchar(255),
    batch          integer,
    migration_time timestamptz
);

CREATE TABLE knex_migrations_lock (
    index     serial PRIMARY KEY,
    is_locked integer
);

INSERT INTO knex_migrations_lock (is_locked) VALUES (0);

-- 20191012232353_create-links.js: `increments()` is a serial primary key (PostgreSQL names it links_pkey);
-- `unique()` and `index()` become a separate constraint and index named <table>_<column>_unique / _index;
-- `timestamps(true)` adds created_at and updated_at as nullable timestamptz columns without a default.
CREATE TABLE links (
    id           serial PRIMARY KEY,
    hash         text,
    original_url text NOT NULL,
    creator_id   text NOT NULL,
    meta         jsonb,
    created_at   timestamptz,
    updated_at   timestamptz
);

ALTER TABLE links ADD CONSTRAINT links_hash_unique UNIQUE (hash);
ALTER TABLE links ADD CONSTRAINT links_original_url_unique UNIQUE (original_url);
CREATE INDEX links_creator_id_index ON links (creator_id);

-- 20210224223402_create-users.js: `text('id').primary()` is a separate primary key constraint (users_pkey); role,
-- name and deactivated are NOT NULL with no default; `timestamps(true)` as above. Then the links that already
-- existed get their foreign key to users, deleted with their creator.
CREATE TABLE users (
    id          text,
    role        text NOT NULL,
    name        text NOT NULL,
    deactivated boolean NOT NULL,
    created_at  timestamptz,
    updated_at  timestamptz
);

ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY (id);

ALTER TABLE links ADD CONSTRAINT links_creator_id_foreign
    FOREIGN KEY (creator_id) REFERENCES users (id) ON DELETE CASCADE;

-- 20211007051047_api-users.js: the `api` superuser that OAuth2 JWT clients act as, with the four columns that
-- migration names (its timestamps stay NULL here, which Blink must cope with anyway).
INSERT INTO users (id, role, name, deactivated) VALUES ('api', 'superuser', 'API Client', false);
