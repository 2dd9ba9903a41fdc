//! Several instances sharing one database and one Redis agree: a change made through one is served by the others
//! at once (Redis pub/sub), a miss on one is answered by the shared tier, and when Redis was away the instances
//! forget what they cached as soon as their subscription is back, since invalidations may have been missed.
//! Each test runs its own `redis-server`, so it can stop it.

mod common;

use std::time::{Duration, Instant};

use blink::auth::Caller;
use blink::links::{LinkChanges, NewLink, RedirectStatus};
use common::private_redis::PrivateRedis;
use common::{TestApp, TestDb};
use reqwest::header::LOCATION;

/// How long an instance may take to see a change made through another (the p99 target).
const PROPAGATION: Duration = Duration::from_millis(100);
/// How long an instance may take to resubscribe after Redis comes back (the backoff is capped at 5 s).
const RECOVERY: Duration = Duration::from_secs(30);

async fn instance(db: &TestDb, redis: &PrivateRedis, prefix: &str) -> TestApp {
    let mut config = db.config();
    config.redis.url = Some(redis.url().as_str().into());
    config.redis.prefix = prefix.into();
    TestApp::spawn(config).await
}

async fn shorten(app: &TestApp, url: &str) -> String {
    let link = NewLink { url: url.into(), ..NewLink::default() };
    app.state.links.create(&Caller::operator(), link).await.expect("created").0.slug
}

async fn status_of(app: &TestApp, slug: &str) -> u16 {
    app.get(&format!("/{slug}")).await.status().as_u16()
}

fn to_302() -> LinkChanges {
    LinkChanges { redirect_status: Some(Some(RedirectStatus::try_from(302).expect("302"))), ..LinkChanges::default() }
}

/// Waits until `app` has subscribed to invalidations `times` times in all.
async fn subscribed(app: &TestApp, times: u64) {
    let invalidations = app.state.invalidations.as_ref().expect("Redis is configured");
    let deadline = Instant::now() + RECOVERY;
    let mut interval = tokio::time::interval(Duration::from_millis(20));
    while invalidations.stats().subscriptions.load(std::sync::atomic::Ordering::Relaxed) < times {
        assert!(Instant::now() < deadline, "no invalidation subscription within {RECOVERY:?}");
        interval.tick().await;
    }
}

#[tokio::test]
async fn a_change_through_one_instance_is_served_by_the_other_at_once() {
    let Some(redis) = PrivateRedis::start() else { return };
    for db in common::every_backend().await {
        // A prefix per database: both backends share this Redis.
        let prefix = format!("agree-{}", uuid::Uuid::new_v4().simple());
        let (a, b) = (instance(&db, &redis, &prefix).await, instance(&db, &redis, &prefix).await);
        subscribed(&b, 1).await;
        let slug = shorten(&a, "https://example.com/x").await;
        // B remembers the link (a 301), and a brand slug nobody has yet (a 404).
        assert_eq!(status_of(&b, &slug).await, 301);
        assert_eq!(status_of(&b, "fresh-brand").await, 404);

        a.state.links.update(&Caller::operator(), &slug, to_302()).await.expect("updated");
        let started = Instant::now();
        while status_of(&b, &slug).await != 302 {
            assert!(started.elapsed() < PROPAGATION, "B still served the old status after {:?}", started.elapsed());
        }

        // A brand slug created through A is no longer unknown on B.
        let brand =
            NewLink { url: "https://example.com/y".into(), brand: Some("fresh-brand".into()), ..NewLink::default() };
        a.state.links.create(&Caller::operator(), brand).await.expect("created");
        let started = Instant::now();
        while status_of(&b, "fresh-brand").await != 301 {
            assert!(started.elapsed() < PROPAGATION, "B kept the brand slug unknown");
        }
        // And a deletion through A is a 404 on B.
        a.state.links.delete(&Caller::operator(), &slug).await.expect("deleted");
        let started = Instant::now();
        while status_of(&b, &slug).await != 404 {
            assert!(started.elapsed() < PROPAGATION, "B still served a deleted link");
        }
        let received =
            b.state.invalidations.as_ref().expect("redis").stats().received.load(std::sync::atomic::Ordering::Relaxed);
        assert!(received >= 3, "B heard of A's changes ({received})");
        a.stop().await;
        b.stop().await;
    }
}

#[tokio::test]
async fn a_miss_on_one_instance_is_answered_by_the_shared_tier() {
    let Some(redis) = PrivateRedis::start() else { return };
    let db = TestDb::sqlite();
    let (a, b) = (instance(&db, &redis, "tier").await, instance(&db, &redis, "tier").await);
    let slug = shorten(&a, "https://example.com/t").await;
    assert_eq!(status_of(&a, &slug).await, 301, "A loads it from the database and shares it");
    let response = b.get(&format!("/{slug}")).await;
    assert_eq!(response.headers()[LOCATION], "https://example.com/t");
    let stats = b.state.redirects.stats();
    assert_eq!(stats.shared_hits.load(std::sync::atomic::Ordering::Relaxed), 1, "B found it in Redis");
    let keys = redis.keys().await;
    assert!(keys.contains(&format!("tier:redirect:{slug}")), "{keys:?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn after_a_redis_outage_instances_forget_what_they_may_have_missed() {
    let Some(mut redis) = PrivateRedis::start() else { return };
    let db = TestDb::sqlite();
    let (a, b) = (instance(&db, &redis, "outage").await, instance(&db, &redis, "outage").await);
    subscribed(&b, 1).await;
    let slug = shorten(&a, "https://example.com/o").await;
    assert_eq!(status_of(&b, &slug).await, 301);

    redis.stop();
    // Writes still succeed without Redis, and both instances keep serving.
    a.state.links.update(&Caller::operator(), &slug, to_302()).await.expect("updated while Redis is down");
    assert_eq!(status_of(&a, &slug).await, 302);
    assert!([301, 302].contains(&status_of(&b, &slug).await));
    let failures =
        a.state.invalidations.as_ref().expect("redis").stats().send_failures.load(std::sync::atomic::Ordering::Relaxed);
    assert!(failures >= 1, "A could not tell the others");

    redis.run();
    subscribed(&b, 2).await;
    assert_eq!(status_of(&b, &slug).await, 302, "B flushed its memory when its subscription came back");
    assert!(b.state.redirects.stats().flushes.load(std::sync::atomic::Ordering::Relaxed) >= 2);
    a.stop().await;
    b.stop().await;
}
