-- 0003: the key-value store plugins use when Redis is not configured. One namespace per plugin.
CREATE TABLE plugin_kv (
    namespace  text   NOT NULL,      -- the plugin's name
    key        text   NOT NULL,
    value      text   NOT NULL,
    expires_at bigint,                -- Unix time in milliseconds; NULL never expires
    PRIMARY KEY (namespace, key)
);

-- Lets a sweep find expired entries without scanning live ones.
CREATE INDEX plugin_kv_expires_at_index ON plugin_kv (expires_at) WHERE expires_at IS NOT NULL;
