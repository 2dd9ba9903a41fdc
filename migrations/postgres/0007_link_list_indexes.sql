-- 0007: the admin links list stays fast with 100,000 links and more (issue #13). Only adds; nothing depends on
-- this migration's number. Plain CREATE INDEX (a migration runs in a transaction, so not CONCURRENTLY): writes to
-- `links` wait while the indexes build, about a second per 100,000 links.

-- One index per sort order the list offers, so the first page and each keyset page (a cursor: "after this sort
-- key and id") read 50 index entries instead of sorting every link. The id breaks ties in the sort key.
CREATE INDEX IF NOT EXISTS links_created_at_id_index ON links (created_at, id);
CREATE INDEX IF NOT EXISTS links_updated_at_id_index ON links (updated_at, id);
-- Most links have no brand slug: sorted by slug they are listed by id, which the unique index on `hash` alone
-- cannot give in order (SQLite's indexes end in the rowid; PostgreSQL's do not).
CREATE INDEX IF NOT EXISTS links_hash_id_index ON links (hash, id);
-- The same orders within one creator's links (the list's "mine" filter). `original_url` and `hash` are unique,
-- so they need no tie-breaker, except among the many links without a brand slug (`hash` NULL), listed by id.
CREATE INDEX IF NOT EXISTS links_creator_id_id_index ON links (creator_id, id);
CREATE INDEX IF NOT EXISTS links_creator_created_at_index ON links (creator_id, created_at, id);
CREATE INDEX IF NOT EXISTS links_creator_updated_at_index ON links (creator_id, updated_at, id);
CREATE INDEX IF NOT EXISTS links_creator_original_url_index ON links (creator_id, original_url);
CREATE INDEX IF NOT EXISTS links_creator_hash_index ON links (creator_id, hash, id);

-- Substring search (`ILIKE '%term%'`) over the URL, the brand slug and the title, from trigram indexes. pg_trgm
-- ships with PostgreSQL and is a trusted extension since 13, so a database owner may create it; where the role
-- may not (or the extension is not installed), Blink starts anyway and searches by scanning, as before. To add
-- the indexes later, run this file's statements below by hand as a role that may.
DO $trgm$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported OR object_not_in_prerequisite_state THEN
    RAISE WARNING 'pg_trgm is not available (%): link search will scan instead of using trigram indexes', SQLERRM;
END
$trgm$;

DO $indexes$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        -- The title expression must read exactly as the list query's `(meta->>'title')`.
        CREATE INDEX IF NOT EXISTS links_original_url_trgm_index ON links USING gin (original_url gin_trgm_ops);
        CREATE INDEX IF NOT EXISTS links_hash_trgm_index ON links USING gin (hash gin_trgm_ops);
        CREATE INDEX IF NOT EXISTS links_title_trgm_index ON links USING gin ((meta->>'title') gin_trgm_ops);
    END IF;
EXCEPTION WHEN undefined_object THEN
    -- pg_trgm lives in a schema outside the search path: its operator classes are not visible here.
    RAISE WARNING 'pg_trgm''s operator classes are not on the search path: link search will scan (%)', SQLERRM;
END
$indexes$;
