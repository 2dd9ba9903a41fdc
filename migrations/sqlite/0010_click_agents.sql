-- People's browser, operating system and device class counted together, one row per combination and day, where
-- click_tops took one row for each (three per link each second a person clicks it). The three top tables are
-- read from here and from click_tops, which keeps those written before. Empty text stands for what the user
-- agent did not tell. No foreign key, for the reasons of migration 0009.
CREATE TABLE click_agents (
    link_id BIGINT NOT NULL,
    day BIGINT NOT NULL,
    browser TEXT NOT NULL,
    os TEXT NOT NULL,
    device TEXT NOT NULL,
    clicks BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (link_id, day, browser, os, device)
) WITHOUT ROWID;

CREATE INDEX click_agents_day ON click_agents (day);
