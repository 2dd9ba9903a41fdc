-- 0000: adopts a database made by Node Blink (JaneJeon/blink, its knex migrations) so that 0001 onwards apply.
-- Numbered below 0001 so that it runs first on a Node Blink database. sqlx applies a lower-numbered migration it
-- has not recorded even after higher ones, so a database Blink migrated before this file existed gets it too:
-- there, as on a fresh database, it finds no `knex_migrations` table and changes nothing.
--
-- Node Blink's `users` has `name` and `deactivated` NOT NULL without defaults, `role` without a default, and both
-- tables have nullable timestamps without defaults. Blink's inserts (0001's `api` row, a user's first sign-in)
-- count on 0001's definitions, so those are given here. Existing NULL timestamps stay NULL: Blink reads them as
-- "unknown" rather than inventing a time. Constraint and index names stay knex's (`links_hash_unique`, ...);
-- Node's `knex_migrations` tables stay as they were, and `node_blink_adoption` records that this happened.
DO $adopt$
DECLARE
    last_knex text;
BEGIN
    IF to_regclass('knex_migrations') IS NULL OR to_regclass('users') IS NULL OR to_regclass('links') IS NULL THEN
        RETURN;
    END IF;

    -- Node Blink's last release ran exactly three knex migrations; an older install has another schema (the
    -- links' `originalURL`, no users), which 0001's IF NOT EXISTS would silently leave in place.
    IF NOT EXISTS (SELECT 1 FROM knex_migrations WHERE name = '20211007051047_api-users.js') THEN
        RAISE EXCEPTION 'this Node Blink database has not run all of Node Blink''s migrations: upgrade Node Blink '
            'to its last release and start it once (it runs `knex migrate:latest`), then start Blink again';
    END IF;
    SELECT name INTO last_knex FROM knex_migrations ORDER BY id DESC LIMIT 1;

    ALTER TABLE users ALTER COLUMN role SET DEFAULT 'user';
    ALTER TABLE users ALTER COLUMN name DROP NOT NULL;           -- an identity provider may not give a name
    ALTER TABLE users ALTER COLUMN deactivated SET DEFAULT false;
    ALTER TABLE users ALTER COLUMN created_at SET DEFAULT now();
    ALTER TABLE users ALTER COLUMN updated_at SET DEFAULT now();
    ALTER TABLE links ALTER COLUMN created_at SET DEFAULT now();
    ALTER TABLE links ALTER COLUMN updated_at SET DEFAULT now();

    -- One row, read by `blink migrate --status`; only adopted databases have this table.
    CREATE TABLE node_blink_adoption (
        adopted_at     timestamptz NOT NULL DEFAULT now(),
        knex_migration text        NOT NULL,   -- the last knex migration Node Blink had applied
        links          bigint      NOT NULL,   -- rows at adoption, for the record
        users          bigint      NOT NULL
    );
    -- If someone got 0001 through by hand before this file existed, adoption happened when 0001 was applied.
    INSERT INTO node_blink_adoption (adopted_at, knex_migration, links, users)
    VALUES (coalesce((SELECT installed_on FROM _sqlx_migrations WHERE version = 1), now()), last_knex,
            (SELECT count(*) FROM links), (SELECT count(*) FROM users));
END
$adopt$;
