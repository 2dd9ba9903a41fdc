//! The connection's health as a plain state machine, so what gets logged for an outage (one warning when it
//! begins, one info line when it ends) is decided in one place and tested without a network.

use std::time::{Duration, SystemTime};

/// What Blink currently knows about Redis, for `/readyz`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Nothing has needed Redis yet, or the first connection attempt is still under way.
    Starting,
    /// Connected since `since`.
    Up {
        /// When the current connection was made.
        since: SystemTime,
    },
    /// Unreachable since `since`; calls fail at once while a supervisor reconnects.
    Down {
        /// When the first failure of this outage was seen.
        since: SystemTime,
        /// The latest failure.
        error: String,
    },
}

/// What a change of health means for the log.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// The first connection since start.
    Connected,
    /// A connection broke and is being replaced at once; not an outage yet, so nothing is logged.
    Reconnecting,
    /// Redis cannot be reached: the one warning of this outage.
    OutageBegan,
    /// Another failure within an outage already reported.
    StillDown,
    /// Connected again after an outage that lasted `down_for`.
    Recovered { down_for: Duration },
    /// Connected again after a broken connection that was replaced at the first attempt.
    Replaced,
    /// A failure of a connection that was already given up; nothing changes.
    Stale,
}

impl Change {
    /// Writes the log line this change calls for, if any.
    pub(super) fn log(&self, error: Option<&::redis::RedisError>) {
        let error: &dyn std::fmt::Display = match error {
            Some(error) => error,
            None => &"",
        };
        match self {
            Self::Connected => tracing::info!("connected to Redis"),
            Self::OutageBegan => tracing::warn!(
                %error,
                "Redis is unreachable: requests pass without rate limits and plugin key-value calls fail until it is \
                 back; reconnecting in the background"
            ),
            Self::Recovered { down_for } => {
                tracing::info!(down_for_ms = u64::try_from(down_for.as_millis()).unwrap_or(u64::MAX), "Redis is back");
            }
            Self::Reconnecting => tracing::debug!(%error, "Redis connection broke; reconnecting"),
            Self::StillDown => tracing::debug!(%error, "Redis still unreachable"),
            Self::Replaced => tracing::debug!("Redis connection replaced"),
            Self::Stale => {}
        }
    }
}

#[derive(Debug)]
enum Phase {
    Starting,
    Up {
        since: SystemTime,
    },
    /// The connection broke; the supervisor is trying once before calling it an outage.
    Reconnecting {
        since: SystemTime,
        error: String,
    },
    /// An outage, already reported.
    Down {
        since: SystemTime,
        error: String,
    },
}

/// The health of the one connection, and which connection (by generation) is current.
#[derive(Debug)]
pub(super) struct Health {
    phase: Phase,
    generation: u64,
}

impl Health {
    /// Nothing tried yet.
    pub(super) fn new() -> Self {
        Self { phase: Phase::Starting, generation: 0 }
    }

    /// A connection attempt succeeded; answers the new connection's generation.
    pub(super) fn connected(&mut self, now: SystemTime) -> (u64, Change) {
        let change = match &self.phase {
            Phase::Starting => Change::Connected,
            Phase::Reconnecting { .. } => Change::Replaced,
            Phase::Down { since, .. } => {
                Change::Recovered { down_for: now.duration_since(*since).unwrap_or(Duration::ZERO) }
            }
            Phase::Up { .. } => Change::Replaced,
        };
        self.generation += 1;
        self.phase = Phase::Up { since: now };
        (self.generation, change)
    }

    /// A connection attempt failed.
    pub(super) fn attempt_failed(&mut self, error: String, now: SystemTime) -> Change {
        let (since, change) = match &self.phase {
            Phase::Down { since, .. } => (*since, Change::StillDown),
            Phase::Reconnecting { since, .. } => (*since, Change::OutageBegan),
            Phase::Starting | Phase::Up { .. } => (now, Change::OutageBegan),
        };
        self.phase = Phase::Down { since, error };
        change
    }

    /// A call found connection `generation` broken (it failed or did not answer in time).
    pub(super) fn connection_failed(&mut self, generation: u64, error: String, now: SystemTime) -> Change {
        if generation != self.generation || !matches!(self.phase, Phase::Up { .. }) {
            return Change::Stale;
        }
        self.phase = Phase::Reconnecting { since: now, error };
        Change::Reconnecting
    }

    /// The state `/readyz` reports.
    pub(super) fn status(&self) -> Status {
        match &self.phase {
            Phase::Starting => Status::Starting,
            Phase::Up { since } => Status::Up { since: *since },
            Phase::Reconnecting { since, error } | Phase::Down { since, error } => {
                Status::Down { since: *since, error: error.clone() }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn refused() -> String {
        "Connection refused (os error 111)".to_owned()
    }

    #[test]
    fn redis_down_at_start_warns_once_however_often_the_supervisor_retries() {
        let mut health = Health::new();

        let changes: Vec<_> = (0..5).map(|i| health.attempt_failed(refused(), at(i))).collect();

        assert_eq!(changes[0], Change::OutageBegan);
        assert!(changes[1..].iter().all(|change| *change == Change::StillDown), "{changes:?}");
        assert_eq!(health.status(), Status::Down { since: at(0), error: refused() });
    }

    #[test]
    fn an_outage_warns_once_and_recovery_reports_its_length_once() {
        let mut health = Health::new();
        let (generation, first) = health.connected(at(0));
        assert_eq!(first, Change::Connected);

        // Many requests see the dead connection at about the same time; only the first counts.
        let mut changes = vec![health.connection_failed(generation, "broken pipe".into(), at(10))];
        changes.extend((0..3).map(|_| health.connection_failed(generation, "broken pipe".into(), at(10))));
        changes.extend((11..15).map(|i| health.attempt_failed(refused(), at(i))));
        let (_, recovery) = health.connected(at(40));

        let warnings = changes.iter().filter(|change| **change == Change::OutageBegan).count();
        assert_eq!(warnings, 1, "{changes:?}");
        assert_eq!(changes[0], Change::Reconnecting);
        assert!(changes[1..4].iter().all(|change| *change == Change::Stale), "{changes:?}");
        assert_eq!(recovery, Change::Recovered { down_for: Duration::from_secs(30) });
        assert_eq!(health.status(), Status::Up { since: at(40) });
    }

    #[test]
    fn a_broken_connection_replaced_at_the_first_attempt_is_no_outage() {
        let mut health = Health::new();
        let (generation, _) = health.connected(at(0));

        let broke = health.connection_failed(generation, "connection reset".into(), at(5));
        let status_meanwhile = health.status();
        let (_, replaced) = health.connected(at(5));

        assert_eq!((broke, replaced), (Change::Reconnecting, Change::Replaced));
        assert!(matches!(status_meanwhile, Status::Down { .. }), "calls fail fast while reconnecting");
    }

    #[test]
    fn a_late_failure_of_a_replaced_connection_leaves_the_new_one_alone() {
        let mut health = Health::new();
        let (old, _) = health.connected(at(0));
        health.connection_failed(old, "broken pipe".into(), at(1));
        let (new, _) = health.connected(at(2));

        let change = health.connection_failed(old, "timed out".into(), at(3));

        assert_eq!(change, Change::Stale);
        assert_ne!(old, new);
        assert_eq!(health.status(), Status::Up { since: at(2) });
    }

    #[test]
    fn each_new_outage_warns_again() {
        let mut health = Health::new();
        let mut warnings = 0;
        for round in 0..3 {
            let (generation, _) = health.connected(at(round * 100));
            let changes = [
                health.connection_failed(generation, "broken pipe".into(), at(round * 100 + 1)),
                health.attempt_failed(refused(), at(round * 100 + 2)),
                health.attempt_failed(refused(), at(round * 100 + 3)),
            ];
            warnings += changes.iter().filter(|change| **change == Change::OutageBegan).count();
        }

        assert_eq!(warnings, 3);
    }
}
