-- 0002: per-link redirect overrides. NULL means "use the server default" ([redirect] status, [cache] max_age).

ALTER TABLE links ADD COLUMN redirect_status INTEGER CHECK (redirect_status IN (301, 302, 307, 308));
ALTER TABLE links ADD COLUMN cache_max_age INTEGER CHECK (cache_max_age >= 0);  -- seconds
