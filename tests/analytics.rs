//! Built-in click analytics over HTTP, on SQLite and PostgreSQL: what a redirect counts (clicks, previews, bots,
//! unique visitors, top tables), the stats API in JSON and CSV, who may read it, and what is never stored.

mod common;

use std::time::Duration;

use blink::auth::{Caller, Role};
use blink::links::NewLink;
use common::{TestApp, TestDb, every_backend, token_for};
use serde_json::Value;

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                      Version/17.4 Mobile/15E148 Safari/604.1";
const DESKTOP: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";
const SLACK: &str = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";
const CURL: &str = "curl/8.5.0";

async fn spawn(db: &TestDb, adjust: impl FnOnce(&mut blink::config::Config)) -> TestApp {
    let mut config = db.config();
    config.server.base_url = "https://test-long.com".into();
    // The test client is the proxy: visitors' addresses come in X-Forwarded-For.
    config.server.trust_proxy = "loopback".parse().expect("trust");
    adjust(&mut config);
    TestApp::spawn(config).await
}

async fn shorten(app: &TestApp, url: &str) -> String {
    let request = NewLink { url: url.into(), ..NewLink::default() };
    app.state.links.create(&Caller::operator(), request).await.expect("link created").0.slug
}

async fn visit(app: &TestApp, slug: &str, ip: &str, agent: &str, extra: &[(&str, &str)]) {
    let mut request =
        app.client.get(format!("{}/{slug}", app.base)).header("x-forwarded-for", ip).header("user-agent", agent);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("redirect");
    assert_eq!(response.status(), 301);
}

/// The link's figures once `clicks + previews + bots` reach `expected` (the writer flushes every second), or a
/// failure naming what was seen after ten seconds.
async fn stats_when_counted(app: &TestApp, token: &str, slug: &str, expected: i64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut interval = tokio::time::interval(Duration::from_millis(100));
    loop {
        interval.tick().await;
        let stats: Value = app
            .client
            .get(format!("{}/api/links/{slug}/stats", app.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        let totals = &stats["totals"];
        let seen = ["clicks", "previews", "bots"].iter().map(|k| totals[k].as_i64().unwrap_or(0)).sum::<i64>();
        if seen >= expected || tokio::time::Instant::now() > deadline {
            assert_eq!(seen, expected, "figures counted: {stats}");
            return stats;
        }
    }
}

fn top<'a>(stats: &'a Value, dimension: &str) -> Vec<(&'a str, i64)> {
    stats["tops"][dimension]
        .as_array()
        .expect("a top table")
        .iter()
        .map(|entry| (entry["value"].as_str().expect("value"), entry["clicks"].as_i64().expect("clicks")))
        .collect()
}

#[tokio::test]
async fn redirects_count_people_previews_bots_and_unique_visitors() {
    for db in every_backend().await {
        let app = spawn(&db, |_| {}).await;
        let token = token_for(&app.store, "reader", Role::User, "link:read").await;
        let slug = shorten(&app, "https://example.com/counted").await;
        let referred = [("referer", "https://News.Example/item?id=1"), ("cf-ipcountry", "de")];
        // One person twice, another once: three clicks, two visitors.
        visit(&app, &slug, "203.0.113.1", IPHONE, &referred).await;
        visit(&app, &slug, "203.0.113.1", IPHONE, &referred).await;
        visit(&app, &slug, "198.51.100.7", DESKTOP, &[("cf-ipcountry", "US")]).await;
        visit(&app, &slug, "198.51.100.8", SLACK, &[]).await;
        visit(&app, &slug, "198.51.100.9", CURL, &[]).await;

        let stats = stats_when_counted(&app, &token, &slug, 5).await;
        let totals = &stats["totals"];
        assert_eq!(
            (totals["clicks"].as_i64(), totals["previews"].as_i64(), totals["bots"].as_i64()),
            (Some(3), Some(1), Some(1))
        );
        assert_eq!(totals["visitors"], 2, "one person clicked twice: {stats}");
        assert_eq!(top(&stats, "referrer"), vec![("news.example", 2)]);
        assert_eq!(top(&stats, "country"), vec![("DE", 2), ("US", 1)]);
        assert_eq!(top(&stats, "browser"), vec![("Safari", 2), ("Chrome", 1)]);
        assert_eq!(top(&stats, "device"), vec![("phone", 2), ("desktop", 1)]);
        let series = stats["series"].as_array().expect("series");
        assert_eq!(series.len(), 30, "30 days by default, empty ones as zeros");
        assert_eq!(series.last().expect("today")["clicks"], 3);

        let hourly: Value = app
            .client
            .get(format!("{}/api/links/{slug}/stats?granularity=hour", app.base))
            .bearer_auth(&token)
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json");
        assert_eq!(hourly["series"].as_array().expect("series").len(), 48);
        assert_eq!(hourly["series"].as_array().expect("series").last().expect("this hour")["clicks"], 3);

        let csv = app
            .client
            .get(format!("{}/api/links/{slug}/stats", app.base))
            .bearer_auth(&token)
            .header("accept", "text/csv")
            .send()
            .await
            .expect("csv");
        assert_eq!(csv.status(), 200);
        assert!(csv.headers()["content-type"].to_str().expect("type").starts_with("text/csv"));
        let csv = csv.text().await.expect("text");
        assert!(csv.starts_with("start,clicks,previews,bots,visitors\n"), "{csv}");
        assert!(csv.lines().last().expect("a row").ends_with(",3,1,1,2"), "{csv}");
        app.stop().await;
    }
}

#[tokio::test]
async fn figures_from_several_flushes_add_up_and_survive_a_restart() {
    let db = TestDb::sqlite();
    let app = spawn(&db, |_| {}).await;
    let token = token_for(&app.store, "reader", Role::User, "link:read").await;
    let slug = shorten(&app, "https://example.com/restart").await;
    for _ in 0..3 {
        visit(&app, &slug, "203.0.113.1", DESKTOP, &[]).await;
    }
    stats_when_counted(&app, &token, &slug, 3).await;
    visit(&app, &slug, "203.0.113.2", DESKTOP, &[]).await;
    // Stopping writes what is still in memory.
    app.stop().await;
    let app = spawn(&db, |_| {}).await;
    let stats = stats_when_counted(&app, &token, &slug, 4).await;
    assert_eq!(stats["totals"]["clicks"], 4);
    app.stop().await;
}

#[tokio::test]
async fn do_not_track_visitors_are_left_out_when_configured() {
    let db = TestDb::sqlite();
    let app = spawn(&db, |config| config.analytics.dnt = true).await;
    let token = token_for(&app.store, "reader", Role::User, "link:read").await;
    let slug = shorten(&app, "https://example.com/dnt").await;
    visit(&app, &slug, "203.0.113.1", DESKTOP, &[("dnt", "1")]).await;
    visit(&app, &slug, "203.0.113.2", DESKTOP, &[("sec-gpc", "1")]).await;
    visit(&app, &slug, "203.0.113.3", DESKTOP, &[]).await;
    let stats = stats_when_counted(&app, &token, &slug, 1).await;
    assert_eq!(stats["totals"]["visitors"], 1);
    app.stop().await;
}

#[tokio::test]
async fn nothing_identifying_is_stored() {
    let db = TestDb::sqlite();
    let app = spawn(&db, |_| {}).await;
    let token = token_for(&app.store, "reader", Role::User, "link:read").await;
    let slug = shorten(&app, "https://example.com/private").await;
    visit(&app, &slug, "203.0.113.77", DESKTOP, &[]).await;
    stats_when_counted(&app, &token, &slug, 1).await;
    app.stop().await;
    // The database file and its WAL hold neither the address nor the user agent.
    let path = db.url.trim_start_matches("sqlite://").to_owned();
    for file in [path.clone(), format!("{path}-wal")] {
        let Ok(bytes) = std::fs::read(&file) else { continue };
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("203.0.113.77"), "{file} holds the visitor's address");
        assert!(!text.contains("Windows NT 10.0; Win64"), "{file} holds the user agent");
    }
}

#[tokio::test]
async fn stats_refuse_bad_periods_and_unknown_links_and_callers_without_the_scope() {
    let db = TestDb::sqlite();
    let app = spawn(&db, |_| {}).await;
    let reader = token_for(&app.store, "reader", Role::User, "link:read").await;
    let no_scope = token_for(&app.store, "writer", Role::User, "link:create").await;
    let slug = shorten(&app, "https://example.com/periods").await;
    let get = |path: String, token: String| {
        let request = app.client.get(format!("{}{path}", app.base)).bearer_auth(token);
        async move { request.send().await.expect("response") }
    };
    for query in
        ["from=yesterday", "to=2026-13-01", "from=2026-02-01&to=2026-01-01", "granularity=hour&from=2020-01-01"]
    {
        let response = get(format!("/api/links/{slug}/stats?{query}"), reader.clone()).await;
        assert_eq!(response.status(), 400, "{query}");
        let problem: Value = response.json().await.expect("problem");
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{problem}");
    }
    let ok = get(format!("/api/links/{slug}/stats?from=2026-01-01&to=2026-01-31"), reader.clone()).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.expect("json")["series"].as_array().expect("series").len(), 30);
    assert_eq!(get("/api/links/zzzzzz/stats".into(), reader.clone()).await.status(), 404);
    assert_eq!(get(format!("/api/links/{slug}/stats"), no_scope).await.status(), 403);
    assert_eq!(app.client.get(format!("{}/api/links/{slug}/stats", app.base)).send().await.expect("r").status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_link_deletes_its_figures() {
    for db in every_backend().await {
        let app = spawn(&db, |_| {}).await;
        let token = token_for(&app.store, "reader", Role::User, "link:read").await;
        let slug = shorten(&app, "https://example.com/deleted").await;
        visit(&app, &slug, "203.0.113.1", DESKTOP, &[]).await;
        stats_when_counted(&app, &token, &slug, 1).await;
        app.state.links.delete(&Caller::operator(), &slug).await.expect("deleted");
        // The same URL shortened again gets a new number, and starts from zero.
        let again = shorten(&app, "https://example.com/deleted").await;
        let stats = stats_when_counted(&app, &token, &again, 0).await;
        assert_eq!(stats["totals"]["visitors"], 0);
        app.stop().await;
    }
}

/// A flush of more links than one statement writes (the writer splits its rows into statements of a few hundred)
/// adds every row, and the unique visitors the database had not seen, across the statements.
#[tokio::test]
async fn a_flush_of_hundreds_of_links_adds_up_across_statements() {
    use blink::analytics::{ClickStore, Counts, DAY, Dimension, HOUR, Point, Tally, classify};
    let (day, hour) = (20_000 * DAY, 20_000 * DAY + 5 * HOUR);
    let one_click = Counts { clicks: 1, ..Counts::default() };
    let tally = || {
        let mut tally = Tally::default();
        for link in 1..=450 {
            tally.hours.insert((link, hour), one_click);
            // A browser as figures written before migration 0010 hold it, and as they are written now.
            tally.tops.insert((link, day, Dimension::Browser, "Firefox".into()), 1);
            tally.agents.insert((link, day, classify(Some(FIREFOX))), 1);
            tally.visitors.insert((link, day, link * 7));
        }
        tally
    };
    for db in every_backend().await {
        // Without a recorder: its pruning, which would race with this test, deletes figures of links that do not
        // exist and of days past the retention.
        let app = spawn(&db, |config| config.analytics.enabled = false).await;
        // The same person again: the second flush adds clicks but no visitor.
        app.store.add_clicks(&tally()).await.expect("first flush");
        app.store.add_clicks(&tally()).await.expect("second flush");
        let two_clicks = Counts { clicks: 2, ..Counts::default() };
        for link in [1, 200, 201, 400, 450] {
            let days = app.store.click_series(link, day, day + DAY, false).await.expect("days");
            assert_eq!(days, [Point { start: day, counts: two_clicks, visitors: 1 }], "link {link}");
            let hours = app.store.click_series(link, day, day + DAY, true).await.expect("hours");
            assert_eq!(hours, [Point { start: hour, counts: two_clicks, visitors: 0 }], "link {link}");
            let tops = app.store.click_tops(link, day, day + DAY, 5).await.expect("tops");
            let expected =
                [(Dimension::Browser, "Firefox", 4), (Dimension::Device, "desktop", 2), (Dimension::Os, "Linux", 2)];
            assert_eq!(
                tops,
                expected.map(|(dimension, value, clicks)| (dimension, value.to_owned(), clicks)),
                "link {link}"
            );
        }
        app.stop().await;
    }
}

/// Pruning moves hourly figures past 48 hours into their days: the day's figures stay what they were, and two
/// instances pruning at once move each hour once.
#[tokio::test]
async fn hours_pruned_into_their_days_are_counted_once() {
    use blink::analytics::{ClickStore, Counts, DAY, HOUR, Horizon, Point, Tally};
    for db in every_backend().await {
        // Without a recorder, whose own pruning would race with the two below.
        let app = spawn(&db, |config| config.analytics.enabled = false).await;
        let request = NewLink { url: "https://example.com/moved".into(), ..NewLink::default() };
        let link = app.state.links.create(&Caller::operator(), request).await.expect("link created").0.id;
        let day = 20_000 * DAY;
        let mut tally = Tally::default();
        for (hour, clicks) in [(1, 3), (2, 4), (23, 5)] {
            tally.hours.insert((link, day + hour * HOUR), Counts { clicks, bots: 1, ..Counts::default() });
        }
        tally.visitors.insert((link, day, 7));
        app.store.add_clicks(&tally).await.expect("flush");
        let whole_day = [Point { start: day, counts: Counts { clicks: 12, previews: 0, bots: 3 }, visitors: 1 }];
        assert_eq!(app.store.click_series(link, day, day + DAY, false).await.expect("days"), whole_day);

        // The first two hours move, the last stays an hour.
        let horizon = Horizon { hours_before: day + 10 * HOUR, days_before: 0, visitors_before: 0 };
        let (a, b) = tokio::join!(app.store.prune_clicks(horizon), app.store.prune_clicks(horizon));
        assert_eq!(a.expect("first prune") + b.expect("second prune"), 2, "each of the two hours moved once");
        assert_eq!(app.store.click_series(link, day, day + DAY, false).await.expect("days"), whole_day);
        let hours = app.store.click_series(link, day, day + DAY, true).await.expect("hours");
        assert_eq!(hours.iter().map(|point| point.start).collect::<Vec<_>>(), [day + 23 * HOUR]);

        // A later click in a moved hour (a flush that waited for the database) adds to the day too.
        let mut late = Tally::default();
        late.hours.insert((link, day + HOUR), Counts { clicks: 1, ..Counts::default() });
        app.store.add_clicks(&late).await.expect("late flush");
        app.store.prune_clicks(Horizon { hours_before: day + DAY, ..horizon }).await.expect("prune");
        let day_figures = app.store.click_series(link, day, day + DAY, false).await.expect("days");
        assert_eq!(day_figures[0].counts.clicks, 13);
        assert!(app.store.click_series(link, day, day + DAY, true).await.expect("hours").is_empty());
        app.stop().await;
    }
}

#[tokio::test]
async fn the_openapi_document_offers_the_figures_as_json_and_as_csv() {
    let db = TestDb::sqlite();
    let app = spawn(&db, |_| {}).await;
    let spec: Value = app.get("/api/openapi.json").await.json().await.expect("document");
    let content = &spec["paths"]["/links/{id}/stats"]["get"]["responses"]["200"]["content"];
    assert_eq!(
        content["application/json; charset=utf-8"]["schema"]["$ref"], "#/components/schemas/StatsBody",
        "{content}"
    );
    assert!(content["text/csv"].is_object(), "{content}");
    app.stop().await;
}
