//! Per-plugin counters and the circuit breaker.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::error::CallFailure;

/// A point-in-time copy of one plugin's counters (for logs and `/metrics`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PluginStats {
    pub name: String,
    /// Calls made into the plugin (including failed ones).
    pub calls: u64,
    /// Calls that failed for another reason than a trap or a timeout.
    pub errors: u64,
    pub traps: u64,
    pub timeouts: u64,
    /// Calls not made because the circuit breaker had disabled the plugin.
    pub short_circuited: u64,
    /// Sum of the latency of all calls, in nanoseconds.
    pub total_latency_ns: u64,
    /// Whether the plugin is disabled for a cool-down right now.
    pub disabled: bool,
    /// How many times the circuit breaker has opened.
    pub breaker_trips: u64,
}

/// Circuit breaker settings.
#[derive(Debug, Clone, Copy)]
pub struct BreakerOptions {
    /// Consecutive failed calls (traps, timeouts, errors) that disable a plugin.
    pub threshold: u32,
    /// How long a disabled plugin stays disabled. After it, one call is let
    /// through: success closes the breaker, failure opens it again.
    pub cooldown: Duration,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        Self { threshold: 5, cooldown: Duration::from_secs(30) }
    }
}

pub(crate) struct Stats {
    epoch: Instant,
    calls: AtomicU64,
    errors: AtomicU64,
    traps: AtomicU64,
    timeouts: AtomicU64,
    short_circuited: AtomicU64,
    latency_ns: AtomicU64,
    consecutive_failures: AtomicU32,
    /// Milliseconds since `epoch` until which the plugin is disabled (0: closed).
    open_until_ms: AtomicU64,
    trips: AtomicU64,
    probing: AtomicBool,
    breaker: BreakerOptions,
}

pub(crate) enum Admission {
    Run,
    Rejected,
}

impl Stats {
    pub(crate) fn new(breaker: BreakerOptions) -> Self {
        Self {
            epoch: Instant::now(),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            traps: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            short_circuited: AtomicU64::new(0),
            latency_ns: AtomicU64::new(0),
            consecutive_failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            trips: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            breaker,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a call may go ahead.
    pub(crate) fn admit(&self) -> Admission {
        let until = self.open_until_ms.load(Relaxed);
        if until == 0 {
            return Admission::Run;
        }
        if self.now_ms() < until {
            self.short_circuited.fetch_add(1, Relaxed);
            return Admission::Rejected;
        }
        // Half-open: let one probe through at a time.
        if self.probing.swap(true, Relaxed) {
            self.short_circuited.fetch_add(1, Relaxed);
            return Admission::Rejected;
        }
        Admission::Run
    }

    /// Records a finished call; returns true when this call opened the breaker.
    pub(crate) fn record(&self, elapsed: Duration, failure: Option<&CallFailure>) -> bool {
        self.calls.fetch_add(1, Relaxed);
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.latency_ns.fetch_add(ns, Relaxed);
        let was_probe = self.probing.swap(false, Relaxed);
        let Some(failure) = failure else {
            self.consecutive_failures.store(0, Relaxed);
            self.open_until_ms.store(0, Relaxed);
            return false;
        };
        match failure {
            CallFailure::Timeout(_) => &self.timeouts,
            CallFailure::Trap(_) => &self.traps,
            CallFailure::Error(_) | CallFailure::Disabled => &self.errors,
        }
        .fetch_add(1, Relaxed);
        let failures = self.consecutive_failures.fetch_add(1, Relaxed).saturating_add(1);
        if was_probe || failures >= self.breaker.threshold {
            let cooldown = u64::try_from(self.breaker.cooldown.as_millis()).unwrap_or(u64::MAX);
            let until = self.now_ms().saturating_add(cooldown).max(1);
            let previous = self.open_until_ms.swap(until, Relaxed);
            let opened = previous == 0 || was_probe;
            if opened {
                self.trips.fetch_add(1, Relaxed);
            }
            return opened;
        }
        false
    }

    pub(crate) fn snapshot(&self, name: &str) -> PluginStats {
        let until = self.open_until_ms.load(Relaxed);
        PluginStats {
            name: name.to_owned(),
            calls: self.calls.load(Relaxed),
            errors: self.errors.load(Relaxed),
            traps: self.traps.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            short_circuited: self.short_circuited.load(Relaxed),
            total_latency_ns: self.latency_ns.load(Relaxed),
            disabled: until != 0 && self.now_ms() < until,
            breaker_trips: self.trips.load(Relaxed),
        }
    }
}
