//! A bounded load generator for the fault tests: one worker per URL, each with one request in flight at most and
//! at most one request per [`PACE`], sending `GET`s until told to stop and counting the redirects that came back.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;

/// The shortest time between two requests of one worker: a steady load, not a flood of a 2-core machine.
pub const PACE: Duration = Duration::from_millis(2);
/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Load::wait_for`] waits on a loaded machine before failing the test.
const PATIENCE: Duration = Duration::from_secs(60);
/// How many failures are kept, described, for the assertion message.
const FAILURES_KEPT: usize = 10;

/// Redirects sent again and again until [`Load::finish`]; only a `301` counts as a success.
pub struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    failures: Mutex<Vec<String>>,
    /// When each answered request was sent, and the instance nginx names in `X-Upstream` (when it does).
    answered_by: Mutex<Vec<(Instant, String)>>,
}

/// What a load did in all.
#[derive(Debug)]
pub struct Outcome {
    /// Redirects answered with a `301`.
    pub ok: u64,
    /// Requests answered otherwise, or not at all.
    pub failed: u64,
    /// The first failures, described.
    pub failures: Vec<String>,
}

impl Load {
    /// Starts one worker per entry of `urls` (the same URL twice makes two workers).
    pub fn start(client: &reqwest::Client, urls: &[String]) -> Self {
        let (stop, tally) = (Arc::<AtomicBool>::default(), Arc::<Tally>::default());
        let workers = urls
            .iter()
            .map(|url| {
                let (client, url, stop, tally) = (client.clone(), url.clone(), Arc::clone(&stop), Arc::clone(&tally));
                tokio::spawn(async move {
                    let mut pace = tokio::time::interval(PACE);
                    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    while !stop.load(Relaxed) {
                        pace.tick().await;
                        let sent = Instant::now();
                        let result = client.get(&url).timeout(REQUEST_TIMEOUT).send().await;
                        tally.record(sent, &url, result);
                    }
                })
            })
            .collect();
        Self { stop, tally, workers }
    }

    /// Redirects that succeeded so far.
    pub fn succeeded(&self) -> u64 {
        self.tally.ok.load(Relaxed)
    }

    /// Waits until `more` redirects beyond those counted now have succeeded (the load ran on meanwhile), failing
    /// the test after a minute.
    pub async fn wait_for(&self, more: u64) {
        let target = self.succeeded() + more;
        let deadline = Instant::now() + PATIENCE;
        let mut interval = tokio::time::interval(Duration::from_millis(10));
        while self.succeeded() < target {
            assert!(Instant::now() < deadline, "the load did not reach {target} redirects within {PATIENCE:?}");
            interval.tick().await;
        }
    }

    /// The instances (nginx's `X-Upstream`) that answered the requests sent at `since` or later.
    pub fn answered_by_since(&self, since: Instant) -> BTreeSet<String> {
        let answered = self.tally.answered_by.lock().expect("not poisoned");
        answered.iter().filter(|(sent, _)| *sent >= since).map(|(_, upstream)| upstream.clone()).collect()
    }

    /// Stops the load and waits for the requests in flight.
    pub async fn finish(self) -> Outcome {
        self.stop.store(true, Relaxed);
        for worker in self.workers {
            worker.await.expect("load worker");
        }
        let failures = self.tally.failures.lock().expect("not poisoned").clone();
        Outcome { ok: self.tally.ok.load(Relaxed), failed: self.tally.failed.load(Relaxed), failures }
    }
}

impl Tally {
    fn record(&self, sent: Instant, url: &str, result: reqwest::Result<reqwest::Response>) {
        let failure = match result {
            Ok(response) => {
                if let Some(upstream) = response.headers().get("x-upstream").and_then(|value| value.to_str().ok()) {
                    self.answered_by.lock().expect("not poisoned").push((sent, upstream.to_owned()));
                }
                if response.status() == StatusCode::MOVED_PERMANENTLY {
                    self.ok.fetch_add(1, Relaxed);
                    return;
                }
                format!("GET {url}: {}", response.status())
            }
            Err(error) => format!("GET {url}: {error}"),
        };
        self.failed.fetch_add(1, Relaxed);
        let mut failures = self.failures.lock().expect("not poisoned");
        if failures.len() < FAILURES_KEPT {
            failures.push(failure);
        }
    }
}
