//! Two Blink instances behind nginx (round robin), sharing one PostgreSQL database and one Redis, behave like one:
//! a link created through one is served by both, a session or an API token from one is valid on the other, and
//! the rate limit counts the requests of both. Needs PostgreSQL, Redis and `/usr/sbin/nginx` (all three under
//! `CI=true`; outside CI a missing one skips the test, saying so).

mod common;

use std::collections::BTreeSet;

use blink::auth::Role;
use blink::config::Config;
use common::nginx::{Nginx, free_port};
use common::{TestApp, TestDb, session_for, token_for};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

/// Two instances and the nginx in front of them.
struct Cluster {
    a: TestApp,
    b: TestApp,
    nginx: Nginx,
    // Dropped last: the database outlives the instances using it.
    _db: TestDb,
}

impl Cluster {
    /// Starts both instances on one fresh PostgreSQL database and one Redis (under a key prefix of this test's
    /// own), with `configure` applied to their common configuration, and nginx in front; `None` when a service
    /// is missing outside CI.
    async fn start(configure: impl FnOnce(&mut Config)) -> Option<Self> {
        if !Nginx::available() || !redis_reachable().await {
            return None;
        }
        let db = TestDb::postgres().await?;
        let port = free_port();
        let mut config = db.config();
        config.server.base_url = format!("http://127.0.0.1:{port}");
        config.redis.url = Some(common::redis_url().as_str().into());
        config.redis.prefix = format!("blinktest-{}", uuid::Uuid::new_v4().simple());
        configure(&mut config);
        let a = TestApp::spawn(config.clone()).await;
        let b = TestApp::spawn(config).await;
        let nginx = Nginx::start(port, &[a.addr, b.addr]);
        Some(Self { a, b, nginx, _db: db })
    }

    /// The two instances' addresses, as nginx names them in `X-Upstream`.
    fn both(&self) -> BTreeSet<String> {
        BTreeSet::from([self.a.addr.to_string(), self.b.addr.to_string()])
    }

    /// `GET path` through nginx, with `headers`.
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = self.a.client.get(format!("{}{path}", self.nginx.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request through nginx")
    }

    async fn stop(self) {
        self.a.stop().await;
        self.b.stop().await;
    }
}

async fn redis_reachable() -> bool {
    let url = common::redis_url();
    let connected = match redis::Client::open(url.as_str()) {
        Ok(client) => client.get_multiplexed_async_connection().await.map(drop),
        Err(error) => Err(error),
    };
    match connected {
        Ok(()) => true,
        Err(error) if !common::in_ci() => {
            eprintln!("SKIPPED: Redis at {url} is not reachable ({error}); run ../shared/services-up");
            false
        }
        Err(error) => panic!("Redis at {url} is not reachable under CI=true: {error}"),
    }
}

/// The instance that answered, as nginx reports it.
fn upstream(response: &Response) -> String {
    let header = response.headers().get("x-upstream").expect("nginx names the instance that answered");
    header.to_str().expect("an address").to_owned()
}

/// Creates a link to `url` with the brand slug `brand` through the API of `app`, as the holder of `token`; its
/// automatic slug.
async fn create_link(app: &TestApp, token: &str, url: &str, brand: &str) -> String {
    let response = app
        .client
        .post(format!("{}/api/links", app.base))
        .bearer_auth(token)
        .json(&json!({"originalUrl": url, "hash": brand}))
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("a JSON link");
    body["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn a_link_created_through_one_instance_is_served_by_both() {
    let Some(cluster) = Cluster::start(|_| {}).await else { return };
    let token = token_for(&cluster.a.store, "alice", Role::User, "link:*").await;
    let id = create_link(&cluster.a, &token, "https://example.com/landing", "landing").await;

    let mut answered = BTreeSet::new();
    for slug in [id.as_str(), "landing"].repeat(3) {
        let response = cluster.get(&format!("/{slug}"), &[]).await;
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY, "/{slug} from {}", upstream(&response));
        assert_eq!(response.headers()["location"], "https://example.com/landing");
        answered.insert(upstream(&response));
    }
    assert_eq!(answered, cluster.both(), "nginx sent the requests to both instances");
    cluster.stop().await;
}

#[tokio::test]
async fn a_session_and_a_token_from_one_instance_are_valid_on_the_other() {
    let Some(cluster) = Cluster::start(|_| {}).await else { return };
    let session = session_for(&cluster.a, "bob", Role::User).await;
    let token = token_for(&cluster.a.store, "carol", Role::User, "user:read").await;
    let bearer = format!("Bearer {token}");

    let mut answered = BTreeSet::new();
    for _ in 0..3 {
        for (credentials, user) in [(("cookie", session.cookie.as_str()), "bob"), (("authorization", &bearer), "carol")]
        {
            let response = cluster.get("/api/user", &[credentials]).await;
            let from = upstream(&response);
            assert_eq!(response.status(), StatusCode::OK, "{user}'s credentials on {from}");
            let body: Value = response.json().await.expect("a JSON user");
            assert_eq!(body["id"], user);
            answered.insert(from);
        }
    }
    assert_eq!(answered, cluster.both());

    // Signing out on one instance ends the session on the other too.
    let cookie_value = session.cookie.split_once('=').expect("name=value").1;
    cluster.a.state.sign_on.sessions().end(cookie_value).await.expect("session ended");
    let after = cluster.b.client.get(format!("{}/api/user", cluster.b.base)).header("cookie", &session.cookie);
    assert_eq!(after.send().await.expect("sent").status(), StatusCode::UNAUTHORIZED);
    cluster.stop().await;
}

#[tokio::test]
async fn the_rate_limit_counts_the_requests_of_both_instances() {
    let Some(cluster) = Cluster::start(|config| config.rate_limit.short_max = 6).await else { return };
    let token = token_for(&cluster.a.store, "dave", Role::User, "user:read").await;
    let bearer = format!("Bearer {token}");

    let mut answered = BTreeSet::new();
    for remaining in ["5", "4", "3", "2", "1", "0"] {
        let response = cluster.get("/api/user", &[("authorization", &bearer)]).await;
        let from = upstream(&response);
        assert_eq!(response.status(), StatusCode::OK, "from {from}");
        assert_eq!(response.headers()["ratelimit-remaining"], remaining, "from {from}: one count for both");
        answered.insert(from);
    }
    assert_eq!(answered, cluster.both());
    for _ in 0..2 {
        let response = cluster.get("/api/user", &[("authorization", &bearer)]).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "from {}", upstream(&response));
    }
    cluster.stop().await;
}

/// How soon after a write's response another instance must serve the change (issue #14: 100 ms, p99).
const INVALIDATION_DEADLINE: std::time::Duration = std::time::Duration::from_millis(100);

#[tokio::test]
async fn an_update_through_one_instance_is_served_by_the_other_within_100_ms() {
    let Some(cluster) = Cluster::start(|_| {}).await else { return };
    let token = token_for(&cluster.a.store, "erin", Role::User, "link:*").await;
    create_link(&cluster.a, &token, "https://example.com/sale", "sale").await;
    let on_b = || cluster.b.client.get(format!("{}/sale", cluster.b.base)).send();
    // Instance B has the link in its cache.
    assert_eq!(on_b().await.expect("sent").status(), StatusCode::MOVED_PERMANENTLY);

    let update = cluster
        .a
        .client
        .put(format!("{}/api/links/sale", cluster.a.base))
        .bearer_auth(&token)
        .json(&json!({"redirectStatus": 307}))
        .send()
        .await
        .expect("sent");
    assert_eq!(update.status(), StatusCode::OK);
    let written = std::time::Instant::now();
    let on_a = cluster.a.client.get(format!("{}/sale", cluster.a.base)).send().await.expect("sent");
    assert_eq!(on_a.status(), StatusCode::TEMPORARY_REDIRECT, "the instance that wrote serves the change at once");

    loop {
        let status = on_b().await.expect("sent").status();
        if status == StatusCode::TEMPORARY_REDIRECT {
            break;
        }
        let waited = written.elapsed();
        assert!(
            waited <= INVALIDATION_DEADLINE,
            "instance B still answered {status} {} ms after the update through instance A",
            waited.as_millis()
        );
    }
    cluster.stop().await;
}

#[tokio::test]
async fn a_thousand_visits_spread_over_both_instances_add_up_exactly_in_the_figures() {
    let Some(cluster) = Cluster::start(|_| {}).await else { return };
    let token = token_for(&cluster.a.store, "frank", Role::User, "link:*").await;
    let id = create_link(&cluster.a, &token, "https://example.com/counted-twice", "counted").await;
    let person =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
    // 700 people, 200 link previews, 100 bots, 50 requests at a time, through nginx (round robin).
    let agents: Vec<&str> = std::iter::repeat_n(person, 700)
        .chain(std::iter::repeat_n("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", 200))
        .chain(std::iter::repeat_n("curl/8.5.0", 100))
        .collect();
    let mut answered = BTreeSet::new();
    for chunk in agents.chunks(50) {
        let (cluster, path) = (&cluster, format!("/{id}"));
        let visits = chunk.iter().map(|agent| {
            let path = path.clone();
            async move { cluster.get(&path, &[("user-agent", agent)]).await }
        });
        for response in futures_util::future::join_all(visits).await {
            assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
            answered.insert(upstream(&response));
        }
    }
    assert_eq!(answered, cluster.both());

    // Each instance writes its figures within a second; the database adds them up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut interval = tokio::time::interval(std::time::Duration::from_millis(200));
    let totals = loop {
        interval.tick().await;
        let stats: Value = cluster
            .get(&format!("/api/links/{id}/stats"), &[("authorization", &format!("Bearer {token}"))])
            .await
            .json()
            .await
            .expect("figures");
        let totals = stats["totals"].clone();
        let seen: i64 = ["clicks", "previews", "bots"].iter().map(|k| totals[k].as_i64().unwrap_or(0)).sum();
        if seen >= 1000 || std::time::Instant::now() > deadline {
            break totals;
        }
    };
    assert_eq!(
        (totals["clicks"].as_i64(), totals["previews"].as_i64(), totals["bots"].as_i64()),
        (Some(700), Some(200), Some(100)),
        "{totals}"
    );
    cluster.stop().await;
}
