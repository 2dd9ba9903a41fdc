-- 0002: per-link redirect overrides, and room for more than 2^31 links.

-- NULL means "use the server default" ([redirect] status, [cache] max_age).
ALTER TABLE links ADD COLUMN IF NOT EXISTS redirect_status smallint
    CHECK (redirect_status IN (301, 302, 307, 308));
ALTER TABLE links ADD COLUMN IF NOT EXISTS cache_max_age integer CHECK (cache_max_age >= 0);  -- seconds

-- Node Blink used `serial`; widening keeps every existing id (and so every short link) as it is.
ALTER TABLE links ALTER COLUMN id TYPE bigint;
ALTER SEQUENCE links_id_seq AS bigint;
