-- 0008: links declared in blink.toml ([[link]] tables, issue #15). Only adds.

-- The declaration last applied to the link, as JSON (slug, url, title, status, cache_max_age); NULL for links made
-- through the UI, the API or an import, which reconciling never touches. Comparing it with the row shows what
-- was changed through the UI or the API since (drift).
ALTER TABLE links ADD COLUMN declared TEXT;

CREATE INDEX links_declared_index ON links (id) WHERE declared IS NOT NULL;
