-- What a Node Blink installation that has been in use for a while holds, on top of schema.sql: the rows that make
-- adoption hard. Load it after schema.sql. tests/adoption.rs checks each of these survives.

-- knex records each migration file it ran; these three ran in two batches (the api user came with a later release).
INSERT INTO knex_migrations (name, batch, migration_time) VALUES
    ('20191012232353_create-links.js', 1, '2021-03-01 10:00:00+00'),
    ('20210224223402_create-users.js', 1, '2021-03-01 10:00:01+00'),
    ('20211007051047_api-users.js', 2, '2021-10-20 08:30:00+00');

-- Users as Node Blink's sign-in created them (with timestamps), one from before it set them (NULL), and a
-- deactivated one.
INSERT INTO users (id, role, name, deactivated, created_at, updated_at) VALUES
    ('google-oauth2|1001', 'superuser', 'Jane Admin', false, '2021-03-01 10:05:00+00', '2021-06-01 12:00:00+00'),
    ('google-oauth2|1002', 'user', 'Early User', false, NULL, NULL),
    ('google-oauth2|1003', 'user', 'Gone User', true, '2021-04-02 09:00:00+00', '2022-01-15 16:45:00+00');

-- Links. Ids 4-8 and 11-41 were deleted (and 43, the last one made), so ids have gaps and the sequence is ahead of
-- the highest id: automatic slugs are hashids of the id itself, never of a position. Brand slugs (`hash`) include
-- `-` and `_`. meta is what Node Blink's metascraper stored: keys Blink knows, `image` and `url`, which it did not
-- know before adoption, explicit nulls, an empty object, and no meta at all.
INSERT INTO links (id, hash, original_url, creator_id, meta, created_at, updated_at) VALUES
    (1, NULL, 'https://example.com/', 'google-oauth2|1001',
        '{"title": "Example Domain", "description": "This domain is for use in illustrative examples.",
          "image": "https://example.com/og.png", "url": "https://example.com/", "lang": "en", "author": null,
          "date": null, "logo": "https://example.com/favicon.ico", "publisher": "Example"}',
        '2021-03-01 10:10:00+00', '2021-03-01 10:10:00+00'),
    (2, 'launch-2021', 'https://blog.example.org/posts/launch?ref=newsletter', 'google-oauth2|1001',
        '{"title": "We launched", "image": "https://blog.example.org/cover.jpg", "url": "https://blog.example.org/posts/launch",
          "video": null, "audio": null, "iframe": null}',
        '2021-03-02 11:00:00+00', '2021-05-05 09:00:00+00'),
    (3, 'snake_case_slug', 'https://docs.example.net/guide/index.html#install', 'google-oauth2|1002',
        '{}', NULL, NULL),
    (9, NULL, 'https://shop.example.com/item/42?color=red&size=m', 'google-oauth2|1002',
        NULL, NULL, '2021-08-08 08:08:08+00'),
    (10, 'Mixed-Case_09', 'https://example.com/a%20b/%C3%A9t%C3%A9', 'google-oauth2|1003',
        '{"title": "Été", "description": "Unicode and percent-encoding", "publisher": "Example", "date": "2021-09-01T00:00:00.000Z"}',
        '2021-09-01 00:00:00+00', NULL),
    (42, 'x_-_y', 'http://intranet.example.com:8080/wiki/Main_Page', 'api',
        '{"title": "Intranet", "url": "http://intranet.example.com:8080/wiki/Main_Page", "image": null}',
        '2022-02-22 22:22:22+00', '2022-02-22 22:22:22+00');

-- knex inserted every row through the sequence; link 43 was made and deleted since.
SELECT setval('links_id_seq', 43);
