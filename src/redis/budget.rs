//! The time one request may spend waiting on Redis, all its calls together (the rate limiter's, and any plugin
//! key-value calls its hooks make). It lives in a task-local so every call the request's task makes draws on it
//! without threading a handle through plugin hosts and stores.

use std::cell::Cell;
use std::time::Duration;

/// All the Redis calls of one request together wait at most this long.
pub const REQUEST_BUDGET: Duration = Duration::from_millis(250);

/// How long one call made for a request may wait for its answer. Redis answers in well under a millisecond when
/// it is well; a call that waits this long marks the connection broken, so the calls after it fail at once.
pub const REQUEST_CALL_TIMEOUT: Duration = Duration::from_millis(100);

/// How long one call made outside any request (the analytics workers' batches) may wait: nobody waits on it, and
/// a batch of thousands of counters may take Redis a few milliseconds on a busy host.
pub const BACKGROUND_CALL_TIMEOUT: Duration = Duration::from_secs(1);

tokio::task_local! {
    static LEFT: Cell<Duration>;
}

/// Runs `request` with a fresh [`REQUEST_BUDGET`], unless it already runs inside one (nested guards share it).
pub async fn within_request_budget<F: Future>(request: F) -> F::Output {
    if LEFT.try_with(|_| ()).is_ok() { request.await } else { LEFT.scope(Cell::new(REQUEST_BUDGET), request).await }
}

/// How long the next call may wait for its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Allowance {
    /// The limit itself.
    pub(super) wait: Duration,
    /// Whether `wait` is the whole per-call timeout, so running out of it says Redis is unwell; a call cut short
    /// by what is left of a request's budget says nothing about Redis.
    pub(super) whole: bool,
}

/// The allowance of the next call: inside a request, [`REQUEST_CALL_TIMEOUT`] or what is left of the request's
/// budget when that is less; outside, [`BACKGROUND_CALL_TIMEOUT`].
pub(super) fn allowance() -> Allowance {
    match LEFT.try_with(Cell::get) {
        Ok(left) if left < REQUEST_CALL_TIMEOUT => Allowance { wait: left, whole: false },
        Ok(_) => Allowance { wait: REQUEST_CALL_TIMEOUT, whole: true },
        Err(_) => Allowance { wait: BACKGROUND_CALL_TIMEOUT, whole: true },
    }
}

/// Counts `elapsed` against the current request's budget (outside a request, nothing to count).
pub(super) fn spend(elapsed: Duration) {
    let _ = LEFT.try_with(|left| left.set(left.get().saturating_sub(elapsed)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_of_one_request_share_the_budget_until_it_is_spent() {
        let allowances = within_request_budget(async {
            let mut seen = Vec::new();
            for _ in 0..4 {
                let allowance = allowance();
                seen.push(allowance);
                spend(allowance.wait);
            }
            seen
        })
        .await;

        let waits: Vec<_> = allowances.iter().map(|a| (a.wait.as_millis(), a.whole)).collect();
        assert_eq!(waits, [(100, true), (100, true), (50, false), (0, false)]);
    }

    #[tokio::test]
    async fn outside_a_request_every_call_gets_the_background_timeout() {
        spend(Duration::from_secs(10));

        assert_eq!(allowance(), Allowance { wait: BACKGROUND_CALL_TIMEOUT, whole: true });
    }

    #[tokio::test]
    async fn a_nested_scope_does_not_refill_the_budget() {
        let inner = within_request_budget(async {
            spend(Duration::from_millis(200));
            within_request_budget(async { allowance() }).await
        })
        .await;

        assert_eq!(inner, Allowance { wait: Duration::from_millis(50), whole: false });
    }
}
