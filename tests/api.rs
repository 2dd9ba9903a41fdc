//! The REST API over HTTP: resources, statuses, both kinds of authentication, the policy matrix, scopes,
//! list parameters, problem+json errors, rate limits, scraping and the OpenAPI document.

mod common;

use blink::auth::Role;
use blink::config::Config;
use chrono::Utc;
use common::{TestApp, TestDb, every_backend};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A user with a fresh API token.
struct Caller {
    token: String,
}

async fn user_with_token(app: &TestApp, id: &str, role: &str, scopes: &str) -> Caller {
    let role = Role::parse(role).expect("a role");
    Caller { token: common::token_for(&app.store, id, role, scopes).await }
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    caller: Option<&Caller>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, format!("{}/api{path}", app.base));
    if let Some(caller) = caller {
        request = request.bearer_auth(&caller.token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request sent")
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON body")
}

async fn assert_problem(response: reqwest::Response, status: StatusCode, needle: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body = json_of(response).await;
    assert_eq!(body["status"], status.as_u16());
    let text = body.to_string();
    assert!(text.contains(needle), "`{needle}` not in {text}");
    body
}

async fn spawn(db: &TestDb) -> TestApp {
    TestApp::spawn(db.config()).await
}

#[tokio::test]
async fn creating_a_link_answers_201_then_200_for_the_same_normalized_url() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        let alice = user_with_token(&app, "alice", "user", "link:*").await;
        let created =
            call(&app, Method::POST, "/links", Some(&alice), Some(json!({"originalUrl": "http://www.example.com/a/"})))
                .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let link = json_of(created).await;
        assert_eq!(link["originalUrl"], "https://example.com/a");
        assert_eq!(link["creatorId"], "alice");
        assert_eq!(link["hash"], Value::Null);
        assert_eq!(link["shortenedUrl"], format!("http://localhost:3000/{}", link["id"].as_str().unwrap()));
        assert!(link.get("brandedUrl").is_none());
        assert!(link["createdAt"].is_string() && link["meta"].is_object());

        let again =
            call(&app, Method::POST, "/links", Some(&alice), Some(json!({"originalUrl": "https://example.com/a"})))
                .await;
        assert_eq!(again.status(), StatusCode::OK);
        assert_eq!(json_of(again).await["id"], link["id"]);

        let branded = call(
            &app,
            Method::POST,
            "/links",
            Some(&alice),
            Some(json!({"originalUrl": "https://example.com/b", "hash": "my-brand"})),
        )
        .await;
        let branded = json_of(branded).await;
        assert_eq!(branded["brandedUrl"], "http://localhost:3000/my-brand");
        let redirect = app.get("/my-brand").await;
        assert_eq!(redirect.status(), StatusCode::MOVED_PERMANENTLY);
        app.stop().await;
    }
}

#[tokio::test]
async fn anonymous_callers_get_401_on_every_api_route_but_the_documents() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        let alice = user_with_token(&app, "alice", "user", "link:*").await;
        let link =
            call(&app, Method::POST, "/links", Some(&alice), Some(json!({"originalUrl": "https://example.com"})));
        let id = json_of(link.await).await["id"].as_str().unwrap().to_owned();
        let anonymous = [
            (Method::GET, "/links".to_owned(), None),
            (Method::GET, format!("/links/{id}"), None),
            (Method::POST, "/links".to_owned(), Some(json!({"originalUrl": "https://example.org"}))),
            (Method::PUT, format!("/links/{id}"), Some(json!({"meta": {"title": "x"}}))),
            (Method::DELETE, format!("/links/{id}"), None),
            (Method::GET, "/user".to_owned(), None),
            (Method::GET, "/users".to_owned(), None),
            (Method::GET, "/users/alice".to_owned(), None),
            (Method::GET, "/users/alice/links".to_owned(), None),
            (Method::PUT, "/users/alice".to_owned(), Some(json!({"name": "x"}))),
        ];
        for (method, path, body) in anonymous {
            let response = call(&app, method.clone(), &path, None, body).await;
            assert!(response.headers().contains_key("www-authenticate"), "{method} {path}");
            let problem = assert_problem(response, StatusCode::UNAUTHORIZED, "sign in").await;
            assert!(!problem.to_string().contains("example.com"), "{method} {path} leaks a target: {problem}");
        }
        assert_eq!(app.get("/api/openapi.json").await.status(), StatusCode::OK);
        assert_eq!(app.get("/api/docs").await.status(), StatusCode::OK);

        let bogus = Caller { token: "blink_0000000000000000000000000000000000000000".into() };
        assert_problem(
            call(&app, Method::GET, "/links", Some(&bogus), None).await,
            StatusCode::UNAUTHORIZED,
            "unknown",
        )
        .await;
        let garbage = app
            .client
            .get(format!("{}/api/links", app.base))
            .header("authorization", "Basic abc")
            .send()
            .await
            .unwrap();
        assert_problem(garbage, StatusCode::UNAUTHORIZED, "Bearer").await;
        app.stop().await;
    }
}

#[tokio::test]
async fn public_read_lets_anonymous_callers_read_links_and_nothing_more() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.api.public_read = true;
    let app = TestApp::spawn(config).await;
    let alice = user_with_token(&app, "alice", "user", "link:*").await;
    let link = call(&app, Method::POST, "/links", Some(&alice), Some(json!({"originalUrl": "https://example.com"})));
    let id = json_of(link.await).await["id"].as_str().unwrap().to_owned();
    assert_eq!(call(&app, Method::GET, "/links", None, None).await.status(), StatusCode::OK);
    assert_eq!(call(&app, Method::GET, &format!("/links/{id}"), None, None).await.status(), StatusCode::OK);
    let create = call(&app, Method::POST, "/links", None, Some(json!({"originalUrl": "https://example.org"})));
    assert_problem(create.await, StatusCode::UNAUTHORIZED, "sign in").await;
    assert_problem(call(&app, Method::GET, "/users", None, None).await, StatusCode::UNAUTHORIZED, "sign in").await;
    app.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_problem_naming_the_problem() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.server.body_limit = 256;
    let app = TestApp::spawn(config).await;
    let alice = user_with_token(&app, "alice", "user", "link:*").await;
    let post = |body: &'static str| {
        app.client
            .post(format!("{}/api/links", app.base))
            .bearer_auth(&alice.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_problem(post("{not json").await.unwrap(), StatusCode::BAD_REQUEST, "").await;
    assert_problem(post(r#"{"originalUrl": ["https://a.example"]}"#).await.unwrap(), StatusCode::BAD_REQUEST, "string")
        .await;
    assert_problem(
        post(r#"{"originalUrl": "https://a.example", "cacheMaxAge": "soon"}"#).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "integer",
    )
    .await;
    assert_problem(
        post(r#"{"originalUrl": "https://a.example", "colour": "red"}"#).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "colour",
    )
    .await;
    let body = assert_problem(
        post(r#"{"originalUrl": "javascript:alert(1)"}"#).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "javascript",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "originalUrl");
    // What the schema says (slug characters, status range) is a 400; what only Blink's rules know is a 422.
    assert_problem(
        post(r#"{"originalUrl": "https://a.example", "hash": "x y"}"#).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "pattern",
    )
    .await;
    assert_problem(
        post(r#"{"originalUrl": "https://a.example", "hash": "health"}"#).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "reserved",
    )
    .await;
    assert_problem(
        post(r#"{"originalUrl": "https://a.example", "hash": false}"#).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "string",
    )
    .await;
    assert_problem(
        post(r#"{"originalUrl": "https://a.example", "redirectStatus": 303}"#).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "redirectStatus",
    )
    .await;
    assert_problem(
        post(r#"{"originalUrl": "https://a.example", "redirectStatus": 200}"#).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "minimum",
    )
    .await;
    let huge = format!(r#"{{"originalUrl": "https://a.example/{}"}}"#, "x".repeat(400));
    let response = app
        .client
        .post(format!("{}/api/links", app.base))
        .bearer_auth(&alice.token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "limit").await;
    assert_problem(call(&app, Method::GET, "/nowhere", None, None).await, StatusCode::NOT_FOUND, "").await;
    app.stop().await;
}

#[tokio::test]
async fn lists_take_react_admin_parameters_and_answer_content_range() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        let alice = user_with_token(&app, "alice", "user", "link:*").await;
        for i in 0..5 {
            call(
                &app,
                Method::POST,
                "/links",
                Some(&alice),
                Some(json!({"originalUrl": format!("https://example.com/{i}")})),
            )
            .await;
        }
        let page =
            call(&app, Method::GET, r#"/links?range=[1,2]&sort=["originalUrl","ASC"]"#, Some(&alice), None).await;
        assert_eq!(page.headers()["content-range"], "links 1-2/5");
        let body = json_of(page).await;
        let urls: Vec<&str> = body.as_array().unwrap().iter().map(|l| l["originalUrl"].as_str().unwrap()).collect();
        assert_eq!(urls, ["https://example.com/1", "https://example.com/2"]);

        let filtered = call(&app, Method::GET, r#"/links?filter={"creatorId":"nobody"}"#, Some(&alice), None).await;
        assert_eq!(filtered.headers()["content-range"], "links */0");
        let searched = call(&app, Method::GET, "/links?q=example.com/3", Some(&alice), None).await;
        assert_eq!(json_of(searched).await.as_array().map(Vec::len), Some(1));

        assert_problem(
            call(&app, Method::GET, r#"/links?sort=["secret","ASC"]"#, None, None).await,
            StatusCode::BAD_REQUEST,
            "secret",
        )
        .await;
        assert_problem(
            call(&app, Method::GET, r#"/links?filter={"secret":1}"#, Some(&alice), None).await,
            StatusCode::BAD_REQUEST,
            "secret",
        )
        .await;
        assert_problem(
            call(&app, Method::GET, "/links?range=oops", Some(&alice), None).await,
            StatusCode::BAD_REQUEST,
            "range",
        )
        .await;
        app.stop().await;
    }
}

#[tokio::test]
async fn link_policies_hold_over_http() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = user_with_token(&app, "alice", "user", "*:*").await;
    let bob = user_with_token(&app, "bob", "user", "*:*").await;
    let root = user_with_token(&app, "root", "superuser", "*:*").await;
    let link = json_of(
        call(&app, Method::POST, "/links", Some(&alice), Some(json!({"originalUrl": "https://example.com/p"}))).await,
    )
    .await;
    let path = format!("/links/{}", link["id"].as_str().unwrap());

    let by_bob = call(&app, Method::PUT, &path, Some(&bob), Some(json!({"hash": "bobs-slug"}))).await;
    assert_problem(by_bob, StatusCode::FORBIDDEN, "creator").await;
    let meta = call(&app, Method::PUT, &path, Some(&bob), Some(json!({"meta": {"title": "Edited by Bob"}}))).await;
    assert_eq!(json_of(meta).await["meta"]["title"], "Edited by Bob");
    let own = call(&app, Method::PUT, &path, Some(&alice), Some(json!({"hash": "alices-slug"}))).await;
    assert_eq!(json_of(own).await["hash"], "alices-slug");
    assert_problem(
        call(&app, Method::PUT, &path, Some(&alice), Some(json!({"hash": "another"}))).await,
        StatusCode::FORBIDDEN,
        "already",
    )
    .await;
    assert_problem(
        call(&app, Method::PUT, &path, Some(&alice), Some(json!({"originalUrl": "https://evil.example"}))).await,
        StatusCode::FORBIDDEN,
        "originalUrl",
    )
    .await;
    let echoed =
        json!({"originalUrl": "https://example.com/p", "id": link["id"], "shortenedUrl": "x", "createdAt": "y"});
    assert_eq!(
        call(&app, Method::PUT, &path, Some(&alice), Some(echoed)).await.status(),
        StatusCode::OK,
        "react-admin echoes read-only fields"
    );

    assert_problem(call(&app, Method::DELETE, &path, Some(&alice), None).await, StatusCode::FORBIDDEN, "superusers")
        .await;
    assert_eq!(call(&app, Method::DELETE, &path, Some(&root), None).await.status(), StatusCode::NO_CONTENT);
    assert_problem(call(&app, Method::DELETE, &path, Some(&root), None).await, StatusCode::NOT_FOUND, "").await;
    assert_problem(call(&app, Method::GET, &path, Some(&root), None).await, StatusCode::NOT_FOUND, "").await;
    app.stop().await;
}

#[tokio::test]
async fn scopes_restrict_tokens_including_wildcards() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let reader = user_with_token(&app, "reader", "superuser", "link:read").await;
    let creator = user_with_token(&app, "creator", "user", "link:*").await;
    let any_read = user_with_token(&app, "any-read", "user", "*:read").await;
    let created =
        call(&app, Method::POST, "/links", Some(&reader), Some(json!({"originalUrl": "https://example.com"}))).await;
    assert_problem(created, StatusCode::FORBIDDEN, "link:create").await;
    assert_eq!(call(&app, Method::GET, "/links", Some(&reader), None).await.status(), StatusCode::OK);
    assert_eq!(
        call(&app, Method::POST, "/links", Some(&creator), Some(json!({"originalUrl": "https://example.com"})))
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_problem(call(&app, Method::GET, "/users", Some(&creator), None).await, StatusCode::FORBIDDEN, "user:read")
        .await;
    assert_eq!(call(&app, Method::GET, "/users", Some(&any_read), None).await.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn user_routes_follow_the_policy_matrix() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        let alice = user_with_token(&app, "alice", "user", "*:*").await;
        let root = user_with_token(&app, "root", "superuser", "*:*").await;
        let me = json_of(call(&app, Method::GET, "/user", Some(&alice), None).await).await;
        assert_eq!((me["id"].as_str(), me["role"].as_str()), (Some("alice"), Some("user")));
        assert_problem(call(&app, Method::GET, "/user", None, None).await, StatusCode::UNAUTHORIZED, "").await;

        let users = call(&app, Method::GET, r#"/users?sort=["id","ASC"]"#, Some(&alice), None).await;
        assert_eq!(users.headers()["content-range"], "users 0-2/3");
        assert_eq!(call(&app, Method::GET, "/users/root", Some(&alice), None).await.status(), StatusCode::OK);
        assert_eq!(call(&app, Method::GET, "/users/alice/links", Some(&alice), None).await.status(), StatusCode::OK);

        let renamed = call(&app, Method::PUT, "/users/alice", Some(&alice), Some(json!({"name": "Alice A."}))).await;
        assert_eq!(json_of(renamed).await["name"], "Alice A.");
        assert_problem(
            call(&app, Method::PUT, "/users/root", Some(&alice), Some(json!({"name": "Hacked"}))).await,
            StatusCode::FORBIDDEN,
            "own name",
        )
        .await;
        assert_problem(
            call(&app, Method::PUT, "/users/alice", Some(&alice), Some(json!({"role": "superuser"}))).await,
            StatusCode::FORBIDDEN,
            "superusers",
        )
        .await;
        assert_problem(
            call(&app, Method::PUT, "/users/root", Some(&root), Some(json!({"deactivated": true}))).await,
            StatusCode::FORBIDDEN,
            "cannot be deactivated",
        )
        .await;
        let off = call(&app, Method::PUT, "/users/alice", Some(&root), Some(json!({"deactivated": true}))).await;
        assert_eq!(json_of(off).await["deactivated"], true);
        assert_problem(call(&app, Method::GET, "/user", Some(&alice), None).await, StatusCode::UNAUTHORIZED, "").await;
        app.stop().await;
    }
}

fn jwt(secret: &str, claims: Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key).expect("sign")
}

#[tokio::test]
async fn oauth2_jwts_act_as_the_api_superuser_and_audience_is_checked() {
    let db = TestDb::sqlite();
    let mut config: Config = db.config();
    let secret = "a-test-secret-that-is-long-enough-for-hs256";
    config.oauth2.enabled = true;
    config.oauth2.jwt_algorithms = "HS256".into();
    config.oauth2.jwt_secret = Some(secret.into());
    config.oauth2.jwt_audience = Some("https://blink.example/api".into());
    let app = TestApp::spawn(config).await;
    let exp = Utc::now().timestamp() + 600;
    let good = Caller {
        token: jwt(
            secret,
            json!({"sub": "svc", "aud": "https://blink.example/api", "exp": exp, "scope": "link:create link:read"}),
        ),
    };
    let created =
        call(&app, Method::POST, "/links", Some(&good), Some(json!({"originalUrl": "https://example.com/jwt"}))).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(json_of(created).await["creatorId"], "api");
    assert_problem(call(&app, Method::GET, "/users", Some(&good), None).await, StatusCode::FORBIDDEN, "user:read")
        .await;

    let wrong_audience = Caller { token: jwt(secret, json!({"aud": "someone-else", "exp": exp})) };
    assert_problem(call(&app, Method::GET, "/links", Some(&wrong_audience), None).await, StatusCode::UNAUTHORIZED, "")
        .await;
    let expired = Caller {
        token: jwt(secret, json!({"aud": "https://blink.example/api", "exp": Utc::now().timestamp() - 3600})),
    };
    assert_problem(call(&app, Method::GET, "/links", Some(&expired), None).await, StatusCode::UNAUTHORIZED, "").await;
    app.stop().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        let alice = user_with_token(&app, "alice", "user", "user:read").await;
        for scheme in ["Bearer ", "BEARER ", "bearer\t", "bEaReR    "] {
            let response = app
                .client
                .get(format!("{}/api/user", app.base))
                .header("authorization", format!("{scheme}{}", alice.token))
                .send()
                .await
                .expect("request sent");
            assert_eq!(response.status(), StatusCode::OK, "{scheme:?}");
            assert_eq!(json_of(response).await["id"], "alice", "{scheme:?}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn by_default_blink_starts_without_jwt_settings_and_refuses_jwts_saying_why() {
    let db = TestDb::sqlite();
    let config = db.config();
    assert!(config.oauth2.enabled && config.oauth2.jwt_secret.is_none() && config.oauth2.jwks_uri.is_none());
    let app = TestApp::spawn(config).await;
    let token = Caller { token: jwt("whatever-secret", json!({"sub": "svc", "exp": Utc::now().timestamp() + 600})) };
    let refused = call(&app, Method::GET, "/links", Some(&token), None).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "JWT bearer tokens are not configured").await;
    let alice = user_with_token(&app, "alice", "user", "link:*").await;
    assert_eq!(call(&app, Method::GET, "/links", Some(&alice), None).await.status(), StatusCode::OK);
    app.stop().await;

    let mut config = db.config();
    config.oauth2.enabled = false;
    let app = TestApp::spawn(config).await;
    let refused = call(&app, Method::GET, "/links", Some(&token), None).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "JWT bearer tokens are turned off").await;
    app.stop().await;
}

#[tokio::test]
async fn clients_behind_a_proxy_that_adds_ports_to_forwarded_for_get_their_own_rate_limits() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.rate_limit.short_max = 1;
    // The test client connects from 127.0.0.1, a proxy the default TRUST_PROXY believes. Anonymous callers are
    // counted per client address, refused ones (401) included.
    let app = TestApp::spawn(config).await;
    let from = |forwarded_for: &'static str| {
        app.client.get(format!("{}/api/links", app.base)).header("x-forwarded-for", forwarded_for).send()
    };
    assert_eq!(from("203.0.113.7:1234").await.expect("sent").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(from("203.0.113.7:4321").await.expect("sent").status(), StatusCode::TOO_MANY_REQUESTS, "same client");
    assert_eq!(from("203.0.113.8:1234").await.expect("sent").status(), StatusCode::UNAUTHORIZED, "another client");
    assert_eq!(from("[2001:db8::9]:1234").await.expect("sent").status(), StatusCode::UNAUTHORIZED, "an IPv6 client");
    assert_eq!(from(" 2001:db8::10 ").await.expect("sent").status(), StatusCode::UNAUTHORIZED, "a bare IPv6 client");
    app.stop().await;
}

#[tokio::test]
async fn rate_limits_answer_429_with_headers() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.rate_limit.short_max = 3;
    let app = TestApp::spawn(config).await;
    let alice = user_with_token(&app, "alice", "user", "link:*").await;
    for expected_remaining in ["2", "1", "0"] {
        let response = call(&app, Method::GET, "/links", Some(&alice), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["ratelimit-limit"], "3");
        assert_eq!(response.headers()["ratelimit-remaining"], expected_remaining);
        assert_eq!(response.headers()["x-ratelimit-remaining"], expected_remaining);
    }
    let limited = call(&app, Method::GET, "/links", Some(&alice), None).await;
    assert!(limited.headers().contains_key("retry-after"));
    assert!(limited.headers().contains_key("x-ratelimit-reset"));
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS, "Too many").await;
    assert_eq!(app.get("/no-such-slug").await.status(), StatusCode::NOT_FOUND, "redirects are not limited");
    app.stop().await;
}

#[tokio::test]
async fn redirects_are_rate_limited_when_configured() {
    let db = TestDb::sqlite();
    let mut config = db.config();
    config.rate_limit.short_max = 2;
    config.rate_limit.redirects = true;
    let app = TestApp::spawn(config).await;
    for expected_remaining in ["1", "0"] {
        let response = app.get("/no-such-slug").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()["ratelimit-remaining"], expected_remaining);
    }
    assert_eq!(app.get("/no-such-slug").await.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let spec = json_of(call(&app, Method::GET, "/openapi.json", None, None).await).await;
    let paths = spec["paths"].as_object().expect("paths");
    for (path, methods) in [
        ("/links", &["get", "post"][..]),
        ("/links/{id}", &["get", "put", "delete"]),
        ("/user", &["get"]),
        ("/users", &["get"]),
        ("/users/{id}", &["get", "put"]),
        ("/users/{id}/links", &["get"]),
    ] {
        for method in methods {
            let operation = &paths.get(path).unwrap_or_else(|| panic!("{path} missing"))[method];
            assert!(operation.is_object(), "{method} {path} missing");
            assert!(operation["responses"]["401"].is_object(), "{method} {path} does not declare 401");
        }
    }
    let docs = call(&app, Method::GET, "/docs", None, None).await;
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
    app.stop().await;
}

/// A one-route HTTP server on 127.0.0.2 answering every request with `response`.
async fn page_server(response: String) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.expect("bind 127.0.0.2");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    addr
}

fn scraping_config(db: &TestDb) -> Config {
    let mut config = db.config();
    config.links.scrape = true;
    config.links.scrape_allow_networks = vec!["127.0.0.2/32".into()];
    // The test pages speak plain HTTP; by default targets are rewritten to https.
    config.links.normalize.force_https = false;
    // With a loopback BASE_URL (the default) every loopback target would be Blink's own host, the test pages too.
    config.server.base_url = "https://blink.example".into();
    config
}

#[tokio::test]
async fn new_links_get_the_target_pages_metadata() {
    let db = TestDb::sqlite();
    let html = "<html lang=\"en\"><head><title>A &amp; B</title><meta name=\"description\" content=\"About things\"></head></html>";
    let page = page_server(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
        html.len()
    ))
    .await;
    let app = TestApp::spawn(scraping_config(&db)).await;
    let alice = user_with_token(&app, "alice", "user", "link:*").await;
    let created = call(
        &app,
        Method::POST,
        "/links",
        Some(&alice),
        Some(json!({"originalUrl": format!("http://{page}/article")})),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let link = json_of(created).await;
    assert_eq!(link["meta"]["title"], "A & B");
    assert_eq!(link["meta"]["description"], "About things");
    assert_eq!(link["meta"]["lang"], "en");
    app.stop().await;
}

#[tokio::test]
async fn scraping_refuses_a_redirect_to_loopback_but_still_creates_the_link() {
    let db = TestDb::sqlite();
    let redirect = page_server(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/secret\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            .into(),
    )
    .await;
    let app = TestApp::spawn(scraping_config(&db)).await;
    let alice = user_with_token(&app, "alice", "user", "link:*").await;
    let created =
        call(&app, Method::POST, "/links", Some(&alice), Some(json!({"originalUrl": format!("http://{redirect}/go")})))
            .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(json_of(created).await["meta"], json!({}));
    app.stop().await;

    let mut strict = scraping_config(&db);
    strict.links.require_reachable = true;
    let app = TestApp::spawn(strict).await;
    let alice = user_with_token(&app, "alice2", "user", "link:*").await;
    let refused = call(
        &app,
        Method::POST,
        "/links",
        Some(&alice),
        Some(json!({"originalUrl": format!("http://{redirect}/other")})),
    )
    .await;
    assert_problem(refused, StatusCode::NOT_FOUND, "127.0.0.1").await;
    app.stop().await;
}

#[tokio::test]
async fn session_requests_that_change_state_need_the_csrf_token() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let session = common::session_for(&app, "carol", Role::User).await;
    let cookie = session.cookie.clone();
    let post = |url: &str| {
        app.client.post(format!("{}/api/links", app.base)).header("cookie", &cookie).json(&json!({"originalUrl": url}))
    };

    let me = app.client.get(format!("{}/api/user", app.base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(json_of(me).await["id"], "carol", "reads need no CSRF token");
    assert_problem(post("https://example.com/1").send().await.unwrap(), StatusCode::FORBIDDEN, "X-CSRF-Token").await;
    let wrong = post("https://example.com/1").header("x-csrf-token", "blink_wrong").send().await.unwrap();
    assert_problem(wrong, StatusCode::FORBIDDEN, "X-CSRF-Token").await;
    let cross_site = post("https://example.com/1")
        .header("origin", "https://evil.example")
        .header("x-requested-with", "fetch")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);

    let with_token = post("https://example.com/1").header("x-csrf-token", &session.csrf).send().await.unwrap();
    assert_eq!(with_token.status(), StatusCode::CREATED);
    let same_origin = post("https://example.com/2")
        .header("origin", "http://localhost:3000")
        .header("x-requested-with", "fetch")
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), StatusCode::CREATED);

    let expired = app
        .client
        .get(format!("{}/api/user", app.base))
        .header("cookie", "blink_session=blink_0000000000000000000000000000000000000000")
        .send()
        .await
        .unwrap();
    assert_problem(expired, StatusCode::UNAUTHORIZED, "sign in again").await;
    app.stop().await;
}

#[tokio::test]
async fn a_taken_custom_slug_is_a_409_naming_the_field() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = user_with_token(&app, "alice", "user", "link:*").await;
    let first = call(
        &app,
        Method::POST,
        "/links",
        Some(&alice),
        Some(json!({"originalUrl": "https://a.example", "hash": "launch"})),
    )
    .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let second = call(
        &app,
        Method::POST,
        "/links",
        Some(&alice),
        Some(json!({"originalUrl": "https://b.example", "hash": "launch"})),
    )
    .await;
    let body = assert_problem(second, StatusCode::CONFLICT, "launch").await;
    assert_eq!(body["errors"][0]["field"], "hash");
    let not_json = app
        .client
        .post(format!("{}/api/links", app.base))
        .bearer_auth(&alice.token)
        .body("originalUrl=x")
        .send()
        .await
        .unwrap();
    assert_problem(not_json, StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type").await;
    app.stop().await;
}

#[tokio::test]
async fn concurrent_changes_of_different_fields_all_stick() {
    for db in every_backend().await {
        let mut config = db.config();
        config.rate_limit.enabled = false;
        let app = TestApp::spawn(config).await;
        let alice = user_with_token(&app, "alice", "user", "link:*").await;
        for round in 0..25 {
            let url = format!("https://example.com/race/{round}");
            let link = call(&app, Method::POST, "/links", Some(&alice), Some(json!({"originalUrl": url})));
            let id = json_of(link.await).await["id"].as_str().unwrap().to_owned();
            let path = format!("/links/{id}");
            let title = format!("title {round}");
            let (meta, status) = tokio::join!(
                call(&app, Method::PUT, &path, Some(&alice), Some(json!({"meta": {"title": title}}))),
                call(&app, Method::PUT, &path, Some(&alice), Some(json!({"redirectStatus": 307}))),
            );
            assert_eq!((meta.status(), status.status()), (StatusCode::OK, StatusCode::OK));
            let stored = json_of(call(&app, Method::GET, &path, Some(&alice), None).await).await;
            assert_eq!((&stored["meta"]["title"], &stored["redirectStatus"]), (&json!(title), &json!(307)), "{round}");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn an_active_superuser_always_remains_and_none_is_ever_deactivated() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        // The `api` user is the only superuser of a new database; its token acts for it.
        let api = user_with_token(&app, "api", "superuser", "*:*").await;
        let put = async |user: &str, body: Value| {
            call(&app, Method::PUT, &format!("/users/{user}"), Some(&api), Some(body)).await
        };
        assert_problem(put("api", json!({"role": "user"})).await, StatusCode::CONFLICT, "no active superuser").await;
        assert_eq!(json_of(call(&app, Method::GET, "/users/api", Some(&api), None).await).await["role"], "superuser");

        user_with_token(&app, "bob", "superuser", "*:*").await;
        assert_eq!(put("bob", json!({"role": "user"})).await.status(), StatusCode::OK);
        assert_eq!(put("bob", json!({"deactivated": true})).await.status(), StatusCode::OK);
        assert_problem(put("bob", json!({"role": "superuser"})).await, StatusCode::CONFLICT, "reactivate").await;
        let both = put("bob", json!({"role": "superuser", "deactivated": true})).await;
        assert_problem(both, StatusCode::CONFLICT, "reactivate").await;
        let bob = json_of(call(&app, Method::GET, "/users/bob", Some(&api), None).await).await;
        assert_eq!((&bob["role"], &bob["deactivated"]), (&json!("user"), &json!(true)), "nothing changed");
        let back = put("bob", json!({"role": "superuser", "deactivated": false})).await;
        assert_eq!(json_of(back).await["role"], "superuser", "reactivated and promoted in one request");
        assert_eq!(put("api", json!({"role": "user"})).await.status(), StatusCode::OK, "bob is still a superuser");
        app.stop().await;
    }
}

#[tokio::test]
async fn nul_characters_are_refused_as_client_errors_on_both_databases() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        let alice = user_with_token(&app, "alice", "user", "*:*").await;
        let post = |body: Value| call(&app, Method::POST, "/links", Some(&alice), Some(body));
        let with_meta = json!({"originalUrl": "https://example.com/nul", "meta": {"title": "a\u{0}b"}});
        assert_problem(post(with_meta).await, StatusCode::BAD_REQUEST, "NUL").await;
        let with_url = json!({"originalUrl": "https://example.com/a\u{0}b"});
        assert!(post(with_url).await.status().is_client_error());
        let name = call(&app, Method::PUT, "/users/alice", Some(&alice), Some(json!({"name": "x\u{0}"}))).await;
        assert_problem(name, StatusCode::BAD_REQUEST, "NUL").await;
        for path in
            ["/links?q=%00", "/users?q=%00", r#"/links?filter={"q":"\u0000"}"#, r#"/users?filter={"id":["\u0000"]}"#]
        {
            assert_problem(call(&app, Method::GET, path, Some(&alice), None).await, StatusCode::BAD_REQUEST, "NUL")
                .await;
        }
        for path in ["/links/%00", "/users/%00", "/users/a%00b/links"] {
            assert_eq!(
                call(&app, Method::GET, path, Some(&alice), None).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn targets_keep_escapes_whose_decoding_would_change_them() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = user_with_token(&app, "alice", "user", "link:*").await;
    for (given, stored) in [
        ("https://example.com/a%0Ab/c", "https://example.com/a%0Ab/c"),
        ("https://example.com/a%25b", "https://example.com/a%25b"),
        ("https://example.com/%7Ealice", "https://example.com/~alice"),
    ] {
        let link = call(&app, Method::POST, "/links", Some(&alice), Some(json!({"originalUrl": given}))).await;
        let link = json_of(link).await;
        assert_eq!(link["originalUrl"], stored, "{given}");
        let redirect = app.get(&format!("/{}", link["id"].as_str().unwrap())).await;
        assert_eq!(redirect.headers()["location"], stored, "{given}");
    }
    app.stop().await;
}

#[tokio::test]
async fn url_valued_metadata_must_be_http_urls() {
    let db = TestDb::sqlite();
    let app = spawn(&db).await;
    let alice = user_with_token(&app, "alice", "user", "link:*").await;
    for (field, value) in [("logo", "javascript:alert(1)"), ("image", "data:image/png;base64,AAAA"), ("logo", "/rel")] {
        let body = json!({"originalUrl": "https://example.com/meta", "meta": {field: value}});
        let refused = call(&app, Method::POST, "/links", Some(&alice), Some(body)).await;
        let problem = assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY, field).await;
        assert_eq!(problem["errors"][0]["field"], "meta");
    }
    let body = json!({"originalUrl": "https://example.com/meta", "meta": {"image": "https://cdn.example/i.png"}});
    let created = json_of(call(&app, Method::POST, "/links", Some(&alice), Some(body)).await).await;
    assert_eq!(created["meta"]["image"], "https://cdn.example/i.png");
    let id = created["id"].as_str().unwrap();
    let change = json!({"meta": {"logo": "ftp://example.com/logo.png"}});
    let refused = call(&app, Method::PUT, &format!("/links/{id}"), Some(&alice), Some(change)).await;
    assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "logo").await;
    app.stop().await;
}

#[tokio::test]
async fn shortening_a_shortened_url_with_a_new_slug_adds_it_or_says_why_not() {
    for db in every_backend().await {
        let app = spawn(&db).await;
        let alice = user_with_token(&app, "alice", "user", "link:*").await;
        let bob = user_with_token(&app, "bob", "user", "link:*").await;
        let post = |caller, body: Value| call(&app, Method::POST, "/links", Some(caller), Some(body));
        let first = json_of(post(&alice, json!({"originalUrl": "https://example.com/brand"})).await).await;
        assert!(first.get("hash").is_none());

        let refused = post(&bob, json!({"originalUrl": "https://example.com/brand", "hash": "bobs-slug"})).await;
        let problem = assert_problem(refused, StatusCode::CONFLICT, "already shortened").await;
        assert!(problem["detail"].as_str().unwrap().contains("creator"), "{problem}");

        let added = post(&alice, json!({"originalUrl": "https://example.com/brand", "hash": "alices-slug"})).await;
        assert_eq!(added.status(), StatusCode::OK);
        let added = json_of(added).await;
        assert_eq!((&added["id"], &added["hash"]), (&first["id"], &json!("alices-slug")));
        assert_eq!(app.get("/alices-slug").await.headers()["location"], "https://example.com/brand");

        let again = post(&alice, json!({"originalUrl": "https://example.com/brand", "hash": "another-one"})).await;
        assert_problem(again, StatusCode::CONFLICT, "already has a custom slug").await;
        let same = post(&alice, json!({"originalUrl": "https://example.com/brand", "hash": "alices-slug"})).await;
        assert_eq!(same.status(), StatusCode::OK, "asking for the slug it has is no change");
        app.stop().await;
    }
}

#[tokio::test]
async fn with_the_database_down_clients_get_a_generic_503_with_the_request_id() {
    let Some(db) = TestDb::postgres().await else { return };
    let app = spawn(&db).await;
    let alice = user_with_token(&app, "alice", "user", "link:*").await;
    db.drop_database().await;
    for path in ["/links", "/user"] {
        let response = call(&app, Method::GET, path, Some(&alice), None).await;
        let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, &request_id).await;
        assert_eq!(problem["requestId"], request_id.as_str());
        let text = problem.to_string().to_lowercase();
        for internal in ["database error", "postgres", "connection", "line ", "sqlx", "blink_test"] {
            assert!(!text.contains(internal), "`{internal}` reaches the client: {problem}");
        }
    }
    app.stop().await;
}
