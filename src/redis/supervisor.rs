//! The background task that owns connecting: it makes the connection, sleeps while it works, and when a call
//! reports it broken replaces it, retrying with capped exponential backoff. Calls never connect themselves, so
//! none waits for a reconnect.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use super::{CONNECT_TIMEOUT, Inner, Redis};

/// The pause after the first failed attempt of an outage.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest pause between attempts: how late Blink may notice that Redis is back.
const MAX_RETRY: Duration = Duration::from_secs(5);
/// How often a connection that nothing uses is checked with a PING.
const HEARTBEAT: Duration = Duration::from_secs(2);

/// Pauses between connection attempts: doubling from [`FIRST_RETRY`] up to [`MAX_RETRY`].
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self { next: FIRST_RETRY }
    }

    /// The pause before the next attempt.
    fn pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(MAX_RETRY);
        pause
    }
}

/// Keeps `redis` connected until the last handle to it is gone, checking an idle connection every
/// [`HEARTBEAT`]. `wake` is notified when a call finds the connection broken and when the handle is dropped.
pub(super) async fn supervise(redis: Weak<Inner>, wake: Arc<Notify>) {
    let mut backoff = Backoff::new();
    loop {
        let Some(inner) = redis.upgrade() else { return };
        let pause = match inner.connect().await {
            Ok(connection) => {
                inner.connected(connection);
                backoff = Backoff::new();
                None
            }
            Err(error) => {
                inner.attempt_failed(&error);
                Some(backoff.pause())
            }
        };
        // Not held while waiting, so dropping the last handle ends this task.
        drop(inner);
        match pause {
            // The first attempt after a break is immediate: a connection the server or a proxy closed is usually
            // replaced before anyone notices.
            None => loop {
                tokio::select! {
                    () = wake.notified() => break,
                    () = tokio::time::sleep(HEARTBEAT) => {
                        let Some(inner) = redis.upgrade() else { return };
                        // A PING like `/readyz`'s: when it fails or times out, the call marks the connection
                        // broken, which wakes this loop. An instance with nothing else to ask Redis (every
                        // redirect from its own cache) so still notices an outage.
                        let _ = Redis { inner }.ping(CONNECT_TIMEOUT).await;
                    }
                }
            },
            Some(pause) => {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = wake.notified() => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_from_100_ms_and_stop_growing_at_5_s() {
        let mut backoff = Backoff::new();

        let pauses: Vec<_> = (0..9).map(|_| backoff.pause().as_millis()).collect();

        assert_eq!(pauses, [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000, 5_000]);
    }
}
