//! Server time of the admin UI's links list with many links (a measurement, run by `bench/list.sh`): seeds
//! `LINKS` links (default 100,000) into each database URL given, then times `LinkService::list` per case, and the
//! rendered pages (`/app/links` and a link's page, through the whole HTTP stack without a socket), and prints
//! p50/p95. Usage: `list_bench DATABASE_URL...` (fresh databases; an already seeded one is reused).

use std::time::{Duration, Instant};

use blink::auth::Caller;
use blink::config::{Config, CredentialsUrl};
use blink::links::{LinkQuery, LinkSort};
use blink::store::Backend;

/// Words the seeded URLs and titles are made of; each is in 1/13 of the links.
const WORDS: [&str; 13] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett", "kilo", "lima",
    "mike",
];

/// The seeded user whose links the "mine" cases list (every 20th link).
const MINE: &str = "alice";

/// Inserts `links` links in one statement: varied hosts, paths, titles (in `meta`), brand slugs on every 10th,
/// four links per creation second (ties in `created_at`), and update times in a scrambled order.
async fn seed(url: &str, backend: Backend, links: i64) -> Result<(), sqlx::Error> {
    let words = WORDS.iter().enumerate().map(|(k, word)| format!("SELECT {k}, '{word}'")).collect::<Vec<_>>();
    let (meta, created, updated) = match backend {
        Backend::Sqlite => (
            "json_object('title', 'How to ' || word || ' number ' || i || ' (' || upper(word) || ')')",
            "strftime('%Y-%m-%dT%H:%M:%S+00:00', 1735689600 + i / 4, 'unixepoch')".to_owned(),
            format!("strftime('%Y-%m-%dT%H:%M:%S+00:00', 1735689600 + (i * 7919) % {links}, 'unixepoch')"),
        ),
        Backend::Postgres => (
            "jsonb_build_object('title', 'How to ' || word || ' number ' || i || ' (' || upper(word) || ')')",
            "timestamptz '2025-01-01 00:00:00+00' + (i / 4) * interval '1 second'".to_owned(),
            format!("timestamptz '2025-01-01 00:00:00+00' + ((i * 7919) % {links}) * interval '1 second'"),
        ),
    };
    let users = (0..19).map(|n| format!("('user{n}')")).chain([format!("('{MINE}')")]).collect::<Vec<_>>();
    let seed_users = format!("INSERT INTO users (id) VALUES {} ON CONFLICT (id) DO NOTHING", users.join(", "));
    let seed_links = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {links}),
              w(k, word) AS ({words})
         INSERT INTO links (hash, original_url, creator_id, meta, created_at, updated_at)
         SELECT CASE WHEN i % 10 = 0 THEN 'brand-' || i END,
                'https://' || word || '-' || (i % 97) || '.example/articles/' || i || '?ref=' || word,
                CASE WHEN i % 20 = 0 THEN '{MINE}' ELSE 'user' || (i % 19) END,
                {meta}, {created}, {updated}
         FROM n JOIN w ON w.k = i % 13",
        words = words.join(" UNION ALL ")
    );
    let analyze = match backend {
        Backend::Sqlite => "ANALYZE",
        Backend::Postgres => "VACUUM ANALYZE links",
    };
    execute(url, backend, &[&seed_users, &seed_links, analyze]).await
}

/// Runs `statements` on a connection of their own (the store offers no raw SQL, rightly).
async fn execute(url: &str, backend: Backend, statements: &[&str]) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await?;
            for sql in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut conn).await?;
            }
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            for sql in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut conn).await?;
            }
        }
    }
    Ok(())
}

/// One thing the list page does, as the query the UI would send.
struct Case {
    name: &'static str,
    query: LinkQuery<'static>,
    /// Measure the page a cursor leads to: the `next` cursor of the page at this offset.
    cursor_at: Option<i64>,
}

macro_rules! case {
    { name: $name:expr, query: $query:expr $(,)? } => { Case { name: $name, query: $query, cursor_at: None } };
    { name: $name:expr, query: $query:expr, cursor_at: $at:expr $(,)? } => {
        Case { name: $name, query: $query, cursor_at: Some($at) }
    };
}

fn cases() -> Vec<Case> {
    let page = |query: LinkQuery<'static>| LinkQuery { limit: 50, ..query };
    let sorted = |sort, descending| page(LinkQuery { sort, descending, ..LinkQuery::default() });
    vec![
        case! { name: "first page", query: page(LinkQuery::default()) },
        case! { name: "deep page (offset 50,000)", query: page(LinkQuery { offset: 50_000, ..LinkQuery::default() }) },
        case! { name: "last page (offset 99,950)", query: page(LinkQuery { offset: 99_950, ..LinkQuery::default() }) },
        case! {
            name: "search url, 1 match",
            query: page(LinkQuery { search: Some("articles/77777?"), ..Default::default() }),
        },
        case! {
            name: "search title, 1 match",
            query: page(LinkQuery { search: Some("NUMBER 4242 ("), ..Default::default() }),
        },
        case! {
            name: "search slug, 1 match",
            query: page(LinkQuery { search: Some("brand-4242"), ..Default::default() }),
        },
        case! {
            name: "search word, 7.7k matches",
            query: page(LinkQuery { search: Some("Kilo"), ..Default::default() }),
        },
        case! { name: "search, all match", query: page(LinkQuery { search: Some("example"), ..Default::default() }) },
        case! { name: "search, no match", query: page(LinkQuery { search: Some("zzzz"), ..Default::default() }) },
        case! { name: "mine", query: page(LinkQuery { creator_id: Some(MINE), ..Default::default() }) },
        case! {
            name: "mine, deep (offset 4,000)",
            query: page(LinkQuery { creator_id: Some(MINE), offset: 4_000, ..Default::default() }),
        },
        case! {
            name: "mine + search word",
            query: page(LinkQuery { creator_id: Some(MINE), search: Some("kilo"), ..Default::default() }),
        },
        case! { name: "sort id asc", query: sorted(LinkSort::Id, false) },
        case! { name: "sort createdAt desc", query: sorted(LinkSort::CreatedAt, true) },
        case! { name: "sort createdAt asc", query: sorted(LinkSort::CreatedAt, false) },
        case! { name: "sort updatedAt desc", query: sorted(LinkSort::UpdatedAt, true) },
        case! { name: "sort originalUrl asc", query: sorted(LinkSort::OriginalUrl, false) },
        case! { name: "sort hash asc", query: sorted(LinkSort::Brand, false) },
        case! { name: "sort hash desc", query: sorted(LinkSort::Brand, true) },
        case! {
            name: "mine, sort createdAt desc",
            query: page(LinkQuery { creator_id: Some(MINE), sort: LinkSort::CreatedAt, ..Default::default() }),
        },
        case! {
            name: "mine, sort originalUrl asc",
            query: page(LinkQuery {
                creator_id: Some(MINE),
                sort: LinkSort::OriginalUrl,
                descending: false,
                ..Default::default()
            }),
        },
        case! { name: "deep page (cursor at 50,000)", query: page(LinkQuery::default()), cursor_at: 50_000 },
        case! { name: "last page (cursor at 99,950)", query: page(LinkQuery::default()), cursor_at: 99_950 },
        case! {
            name: "mine, deep (cursor at 4,000)",
            query: page(LinkQuery { creator_id: Some(MINE), ..Default::default() }),
            cursor_at: 4_000,
        },
        case! {
            name: "sort updatedAt, cursor at 50,000",
            query: page(LinkQuery { sort: LinkSort::UpdatedAt, ..Default::default() }),
            cursor_at: 50_000,
        },
        case! {
            name: "sort hash asc, cursor at 50,000",
            query: sorted(LinkSort::Brand, false),
            cursor_at: 50_000,
        },
        case! {
            name: "search word, cursor at 5,000",
            query: page(LinkQuery { search: Some("Kilo"), ..Default::default() }),
            cursor_at: 5_000,
        },
        case! {
            name: "search, all match, count ≤ 10,000",
            query: page(LinkQuery { search: Some("example"), count_limit: Some(10_000), ..Default::default() }),
        },
        case! {
            name: "sort updatedAt, offset 50,000",
            query: page(LinkQuery { sort: LinkSort::UpdatedAt, offset: 50_000, ..Default::default() }),
        },
    ]
}

/// The admin UI pages to time, as a signed-in person asks for them; `{next}` is the links list's `next` cursor of
/// the page 50,000 links in, `{slug}` a link's.
const PAGES: [(&str, &str); 7] = [
    ("page: /app/links", "/app/links"),
    ("page: /app/links, cursor at 50,000", "/app/links?cursor={next}"),
    ("page: search a word", "/app/links?q=kilo"),
    ("page: search one link", "/app/links?q=articles%2F77777%3F"),
    ("page: mine, sorted by URL", "/app/links?owner=mine&sort=url"),
    ("page: users", "/app/users"),
    ("page: link detail (QR code)", "/app/links/{slug}"),
];

/// Prints p50, p95 and max of `samples` (sorted here) under `name`.
fn report(backend: &str, name: &str, samples: &mut [Duration], rows: usize) {
    let calls = samples.len();
    samples.sort_unstable();
    println!(
        "BENCH {backend:8} {name:34} {:9.2} {:9.2} {:9.2} {rows:7}",
        ms(samples[calls / 2]),
        ms(samples[(calls * 95).div_ceil(100) - 1]),
        ms(samples[calls - 1]),
    );
}

/// Times each of [`PAGES`] through `app` with a session of the seeded user [`MINE`].
async fn time_pages(app: &blink::server::App, backend: &str, calls: usize) -> Result<(), Box<dyn std::error::Error>> {
    use poem::Endpoint;
    let session = app.state.sign_on.sessions().start(MINE, None).await?;
    let cookie = format!("blink_session={}", session.cookie_value);
    let caller = Caller::operator();
    let deep = app.state.links.page(&caller, &LinkQuery { offset: 50_000, ..LinkQuery::default() }).await?;
    let next = deep.next.map(|cursor| cursor.encode()).unwrap_or_default();
    let slug = deep.links.first().map(|link| link.slug.clone()).unwrap_or_default();
    let http = blink::http::app(app.state.clone());
    for (name, path) in PAGES {
        let path = path.replace("{next}", &next).replace("{slug}", &slug);
        let mut samples = Vec::with_capacity(calls);
        let mut size = 0;
        for call in 0..calls + 5 {
            let request = poem::Request::builder().uri_str(&path).header("cookie", &cookie).finish();
            let started = Instant::now();
            let response = http.call(request).await?;
            let status = response.status();
            let body = response.into_body().into_bytes().await?;
            if call >= 5 {
                samples.push(started.elapsed());
            }
            if !status.is_success() {
                return Err(format!("{path} answered {status}").into());
            }
            size = body.len();
        }
        report(backend, name, &mut samples, size);
    }
    Ok(())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let links: i64 = std::env::var("LINKS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let calls: usize = std::env::var("CALLS").ok().and_then(|n| n.parse().ok()).unwrap_or(100);
    let caller = Caller::operator();
    for url in std::env::args().skip(1) {
        let mut config = Config::default();
        config.database.url = CredentialsUrl::from(url.as_str());
        config.links.scrape = false;
        // One person asks for thousands of pages in seconds here.
        config.rate_limit.enabled = false;
        let app = blink::server::prepare(config).await?;
        let backend = match app.store.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let (_, present) = app.state.links.list(&caller, &LinkQuery { limit: 1, ..LinkQuery::default() }).await?;
        if present < links {
            let started = Instant::now();
            seed(&url, app.store.backend(), links - present).await?;
            eprintln!("{backend}: seeded {} links in {:.1} s", links - present, started.elapsed().as_secs_f64());
        }
        println!("{backend}: {links} links, {calls} calls per case after 5 warm-up calls; server time per call");
        println!("{:34} {:>9} {:>9} {:>9} {:>7}", "case", "p50 ms", "p95 ms", "max ms", "rows");
        for mut case in cases() {
            if let Some(offset) = case.cursor_at {
                let at = LinkQuery { offset, ..case.query.clone() };
                case.query.cursor = app.state.links.page(&caller, &at).await?.next;
            }
            let mut samples = Vec::with_capacity(calls);
            let mut rows = 0;
            for call in 0..calls + 5 {
                let started = Instant::now();
                let (found, _total) = app.state.links.list(&caller, &case.query).await?;
                if call >= 5 {
                    samples.push(started.elapsed());
                }
                rows = found.len();
            }
            report(backend, case.name, &mut samples, rows);
        }
        println!("{backend}: the pages themselves (rows column: bytes of HTML)");
        time_pages(&app, backend, calls).await?;
    }
    Ok(())
}
