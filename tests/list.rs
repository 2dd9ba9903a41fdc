//! The links list (issue #13): keyset cursors return every link exactly once in every order, also with ties in the
//! sort key and across the NULLs of unset brand slugs; search finds by URL, slug and title case-insensitively and
//! literally; on both databases.

mod common;

use blink::auth::Caller;
use blink::links::{LinkCursor, LinkMeta, LinkQuery, LinkSort, LinkTotal, NewLink};
use chrono::{DateTime, Utc};
use common::{TestApp, TestDb, every_backend};

const SORTS: [LinkSort; 5] =
    [LinkSort::Id, LinkSort::CreatedAt, LinkSort::UpdatedAt, LinkSort::OriginalUrl, LinkSort::Brand];

/// Shortens `url` as the operator, with `title` and an optional brand slug.
async fn shorten(app: &TestApp, url: &str, title: &str, brand: Option<&str>) -> i64 {
    let meta = LinkMeta { title: Some(title.to_owned()), ..LinkMeta::default() };
    let request =
        NewLink { url: url.to_owned(), brand: brand.map(str::to_owned), meta: Some(meta), ..NewLink::default() };
    let (link, _) = app.state.links.create(&Caller::operator(), request).await.expect("link created");
    link.id
}

/// Gives links `ids` creation and update times in groups of three equal ones, as links made in the same instant.
async fn tie_times(db: &TestDb, ids: &[i64]) {
    use sqlx::Connection;
    let at = |n: i64| DateTime::<Utc>::from_timestamp(1_750_000_000 + n, 0).expect("a time");
    let sql = "UPDATE links SET created_at = $1, updated_at = $2 WHERE id = $3";
    for (n, id) in (0..).zip(ids) {
        let (created, updated) = (at(n / 3), at((n * 7) % 5));
        if db.url.starts_with("sqlite") {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.expect("SQLite");
            sqlx::query(sql).bind(created).bind(updated).bind(id).execute(&mut conn).await.expect("update");
        } else {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("PostgreSQL");
            sqlx::query(sql).bind(created).bind(updated).bind(id).execute(&mut conn).await.expect("update");
        }
    }
}

fn ids_of(links: &[blink::links::Link]) -> Vec<i64> {
    links.iter().map(|link| link.id).collect()
}

#[tokio::test]
async fn cursors_page_through_every_link_exactly_once_in_every_order() {
    for db in every_backend().await {
        let app = TestApp::spawn(db.config()).await;
        let mut ids = Vec::new();
        for i in 0..17 {
            let brand = (i % 4 == 0).then(|| format!("brand-{}", 20 - i));
            ids.push(shorten(&app, &format!("https://example.com/{}", (i * 5) % 17), "t", brand.as_deref()).await);
        }
        tie_times(&db, &ids).await;
        let operator = Caller::operator();
        for sort in SORTS {
            for descending in [false, true] {
                let all = LinkQuery { sort, descending, limit: 100, ..LinkQuery::default() };
                let expected = ids_of(&app.state.links.page(&operator, &all).await.unwrap().links);
                assert_eq!(expected.len(), 17);

                // Forwards by `next`, from the first page.
                let mut seen = Vec::new();
                let mut query = LinkQuery { sort, descending, limit: 4, ..LinkQuery::default() };
                loop {
                    let page = app.state.links.page(&operator, &query).await.unwrap();
                    assert!(page.links.len() <= 4);
                    seen.extend(ids_of(&page.links));
                    match page.next {
                        Some(next) => query.cursor = Some(LinkCursor::decode(&next.encode()).unwrap()),
                        None => break,
                    }
                }
                assert_eq!(seen, expected, "forwards, {sort:?} descending={descending} on {}", db.url);

                // Backwards by `previous`, from the last page.
                let mut seen_backwards = Vec::new();
                let mut query = LinkQuery { sort, descending, limit: 4, offset: 13, ..LinkQuery::default() };
                loop {
                    let page = app.state.links.page(&operator, &query).await.unwrap();
                    seen_backwards.splice(0..0, ids_of(&page.links));
                    match page.previous {
                        Some(previous) => {
                            query.cursor = Some(previous);
                            query.offset = 0;
                        }
                        None => break,
                    }
                }
                assert_eq!(seen_backwards, expected, "backwards, {sort:?} descending={descending} on {}", db.url);
            }
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn a_cursor_of_another_order_starts_the_new_order_from_its_first_page() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    for i in 0..5 {
        shorten(&app, &format!("https://example.com/{i}"), "t", None).await;
    }
    let operator = Caller::operator();
    let by_id = LinkQuery { limit: 2, ..LinkQuery::default() };
    let next = app.state.links.page(&operator, &by_id).await.unwrap().next.expect("a next page");
    let by_url = LinkQuery { sort: LinkSort::OriginalUrl, descending: false, limit: 2, cursor: Some(next), ..by_id };
    let page = app.state.links.page(&operator, &by_url).await.unwrap();
    assert_eq!(page.links[0].original_url, "https://example.com/0");
    assert!(page.previous.is_none());
    app.stop().await;
}

#[tokio::test]
async fn search_finds_by_url_slug_and_title_ignoring_case_and_taking_wildcards_literally() {
    for db in every_backend().await {
        let app = TestApp::spawn(db.config()).await;
        shorten(&app, "https://docs.example.com/Guide/intro", "Getting Started", None).await;
        shorten(&app, "https://shop.example.org/cart", "Your Basket", Some("Summer-Sale")).await;
        shorten(&app, "https://example.net/100%25_off", "A 100% deal_of the day", None).await;
        shorten(&app, "https://example.net/1000xoff", "A 1000 deal of the day", None).await;
        shorten(&app, "https://example.net/back", r"C:\Temp\notes", None).await;
        let operator = Caller::operator();
        for (term, expected) in [
            ("GUIDE/INTRO", vec!["https://docs.example.com/Guide/intro"]),
            ("summer-sale", vec!["https://shop.example.org/cart"]),
            ("sum", vec!["https://shop.example.org/cart"]),
            ("basket", vec!["https://shop.example.org/cart"]),
            ("100%", vec!["https://example.net/100%25_off"]),
            ("0% deal_", vec!["https://example.net/100%25_off"]),
            ("l_of", vec!["https://example.net/100%25_off"]),
            ("_", vec!["https://example.net/100%25_off"]),
            (r"\temp\", vec!["https://example.net/back"]),
            (r"\", vec!["https://example.net/back"]),
            ("\"quoted\"", vec![]),
            ("nowhere at all", vec![]),
        ] {
            let query = LinkQuery {
                search: Some(term),
                sort: LinkSort::OriginalUrl,
                descending: false,
                ..LinkQuery::default()
            };
            let page = app.state.links.page(&operator, &query).await.unwrap();
            let urls: Vec<&str> = page.links.iter().map(|link| link.original_url.as_str()).collect();
            assert_eq!(urls, expected, "searching `{term}` on {}", db.url);
            assert_eq!(page.total, LinkTotal::Exact(i64::try_from(expected.len()).unwrap()));
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn counting_stops_at_the_count_limit() {
    for db in every_backend().await {
        let app = TestApp::spawn(db.config()).await;
        for i in 0..6 {
            shorten(&app, &format!("https://example.com/{i}"), "t", None).await;
        }
        let operator = Caller::operator();
        let capped = LinkQuery { limit: 2, count_limit: Some(3), ..LinkQuery::default() };
        assert_eq!(app.state.links.page(&operator, &capped).await.unwrap().total, LinkTotal::MoreThan(3));
        let roomy = LinkQuery { limit: 2, count_limit: Some(10), ..LinkQuery::default() };
        assert_eq!(app.state.links.page(&operator, &roomy).await.unwrap().total, LinkTotal::Exact(6));
        let exact = LinkQuery { limit: 2, ..LinkQuery::default() };
        assert_eq!(app.state.links.list(&operator, &exact).await.unwrap().1, 6);
        app.stop().await;
    }
}

#[tokio::test]
async fn the_api_pages_by_cursor_headers_and_refuses_foreign_cursors() {
    for db in every_backend().await {
        let app = TestApp::spawn(db.config()).await;
        for i in 0..5 {
            shorten(&app, &format!("https://example.com/{i}"), "t", None).await;
        }
        let token = common::token_for(&app.store, "alice", blink::auth::Role::User, "link:*").await;
        let get = |query: String| app.client.get(format!("{}/api/links?{query}", app.base)).bearer_auth(&token).send();
        let mut urls = Vec::new();
        let mut query = r#"range=[0,1]&sort=["originalUrl","ASC"]"#.to_owned();
        loop {
            let response = get(query.clone()).await.unwrap();
            assert_eq!(response.status(), 200);
            let next = response.headers().get("next-cursor").map(|value| value.to_str().unwrap().to_owned());
            let body: serde_json::Value = response.json().await.unwrap();
            urls.extend(body.as_array().unwrap().iter().map(|link| link["originalUrl"].as_str().unwrap().to_owned()));
            match next {
                Some(cursor) => query = format!(r#"range=[0,1]&sort=["originalUrl","ASC"]&cursor={cursor}"#),
                None => break,
            }
        }
        assert_eq!(urls, (0..5).map(|i| format!("https://example.com/{i}")).collect::<Vec<_>>());
        let refused = get("cursor=not-a-cursor".to_owned()).await.unwrap();
        assert_eq!(refused.status(), 400);
        app.stop().await;
    }
}
