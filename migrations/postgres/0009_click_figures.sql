-- Built-in click analytics: additive figures that every instance adds to with upserts. No address and no user
-- agent is stored; visitor hashes (keyed with a daily key kept only in memory or Redis) live until their day's
-- unique count is settled, then go. link_id is links.id, without a foreign key: a click may be counted just
-- after its link was deleted, and must not fail the batch; deleting a link deletes its figures, and the hourly
-- prune removes what a late click left behind.
CREATE TABLE click_hours (
    link_id BIGINT NOT NULL,
    hour BIGINT NOT NULL,
    clicks BIGINT NOT NULL DEFAULT 0,
    previews BIGINT NOT NULL DEFAULT 0,
    bots BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (link_id, hour)
);

CREATE TABLE click_days (
    link_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    clicks BIGINT NOT NULL DEFAULT 0,
    previews BIGINT NOT NULL DEFAULT 0,
    bots BIGINT NOT NULL DEFAULT 0,
    visitors BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (link_id, day)
);

CREATE TABLE click_tops (
    link_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    dimension TEXT NOT NULL,
    value TEXT NOT NULL,
    clicks BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (link_id, day, dimension, value)
);

CREATE TABLE click_visitors (
    link_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    visitor BIGINT NOT NULL,
    PRIMARY KEY (link_id, day, visitor)
);

-- Pruning by age walks these instead of the whole tables.
CREATE INDEX click_hours_hour ON click_hours (hour);
CREATE INDEX click_days_day ON click_days (day);
CREATE INDEX click_tops_day ON click_tops (day);
CREATE INDEX click_visitors_day ON click_visitors (day);
