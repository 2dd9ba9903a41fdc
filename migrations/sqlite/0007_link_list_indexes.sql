-- 0007: the admin links list stays fast with 100,000 links and more (issue #13). Only adds; nothing depends on
-- this migration's number.

-- One index per sort order the list offers, so the first page and each keyset page (a cursor: "after this sort
-- key and id") read 50 index entries instead of sorting every link. The id breaks ties in the sort key.
CREATE INDEX links_created_at_id_index ON links (created_at, id);
CREATE INDEX links_updated_at_id_index ON links (updated_at, id);
-- The same orders within one creator's links (the list's "mine" filter). `original_url` and `hash` are unique,
-- so they need no tie-breaker, except among the many links without a brand slug (`hash` NULL), listed by id.
CREATE INDEX links_creator_id_id_index ON links (creator_id, id);
CREATE INDEX links_creator_created_at_index ON links (creator_id, created_at, id);
CREATE INDEX links_creator_updated_at_index ON links (creator_id, updated_at, id);
CREATE INDEX links_creator_original_url_index ON links (creator_id, original_url);
CREATE INDEX links_creator_hash_index ON links (creator_id, hash, id);

-- Substring search over the URL, the brand slug and the title: a trigram full-text table, so "%term%" is an
-- index lookup rather than a scan that parses every link's JSON. Contentless (the text stays in `links`); the
-- rowid is the link's id. Case-insensitive like PostgreSQL's ILIKE (trigram folds Unicode case, too).
CREATE VIRTUAL TABLE links_search USING fts5 (
    original_url, hash, title,
    content = '', contentless_delete = 1, tokenize = 'trigram'
);

-- Kept in step with `links` by triggers, so every writer (Blink, the CLI, a hand-run statement) keeps it right.
-- The title is only taken from valid JSON, so a malformed `meta` cannot make a write fail.
CREATE TRIGGER links_search_insert AFTER INSERT ON links BEGIN
    INSERT INTO links_search (rowid, original_url, hash, title)
    VALUES (new.id, new.original_url, new.hash,
            CASE WHEN json_valid(new.meta) THEN json_extract(new.meta, '$.title') END);
END;

CREATE TRIGGER links_search_update AFTER UPDATE OF original_url, hash, meta ON links BEGIN
    DELETE FROM links_search WHERE rowid = old.id;
    INSERT INTO links_search (rowid, original_url, hash, title)
    VALUES (new.id, new.original_url, new.hash,
            CASE WHEN json_valid(new.meta) THEN json_extract(new.meta, '$.title') END);
END;

CREATE TRIGGER links_search_delete AFTER DELETE ON links BEGIN
    DELETE FROM links_search WHERE rowid = old.id;
END;

INSERT INTO links_search (rowid, original_url, hash, title)
SELECT id, original_url, hash, CASE WHEN json_valid(meta) THEN json_extract(meta, '$.title') END FROM links;
