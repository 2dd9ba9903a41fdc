-- A day's clicks, previews and bots are now its hours' added up. The flush writes hourly rows only (and a day row
-- only for new unique visitors); when hours are pruned, after 48 hours, they are added to their day in
-- click_days, and reading a day adds the hours still kept. Figures written before counted every click in both
-- tables, so the hours still kept come out of their days here, and nothing is counted twice. (An instance of an
-- earlier version writing at the same time would still count its clicks in both: stop those before this starts.)
UPDATE click_days SET
    clicks = clicks - COALESCE((SELECT SUM(h.clicks) FROM click_hours h
        WHERE h.link_id = click_days.link_id AND h.hour >= click_days.day AND h.hour < click_days.day + 86400), 0),
    previews = previews - COALESCE((SELECT SUM(h.previews) FROM click_hours h
        WHERE h.link_id = click_days.link_id AND h.hour >= click_days.day AND h.hour < click_days.day + 86400), 0),
    bots = bots - COALESCE((SELECT SUM(h.bots) FROM click_hours h
        WHERE h.link_id = click_days.link_id AND h.hour >= click_days.day AND h.hour < click_days.day + 86400), 0);
