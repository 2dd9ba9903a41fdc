//! Clicks folded into additive figures: what the database adds up, whichever instance counted them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::agent::{Agent, Class, classify};
use super::event::ClickEvent;

/// Seconds in an hour and a day; figures are kept per UTC hour and per UTC day.
pub const HOUR: i64 = 3600;
/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// Clicks, previews and bots in one period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Visits by people.
    pub clicks: i64,
    /// Link-preview fetches.
    pub previews: i64,
    /// Other automated visits.
    pub bots: i64,
}

impl Counts {
    fn add(&mut self, class: Class) {
        match class {
            Class::Click => self.clicks += 1,
            Class::Preview => self.previews += 1,
            Class::Bot => self.bots += 1,
        }
    }

    fn merge(&mut self, other: Counts) {
        self.clicks += other.clicks;
        self.previews += other.previews;
        self.bots += other.bots;
    }
}

/// What a top table ranks (people's clicks only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    /// The host of the `Referer`.
    Referrer,
    /// The configured country header's value.
    Country,
    /// Browser family.
    Browser,
    /// Operating system family.
    Os,
    /// Desktop, phone, tablet or other.
    Device,
}

impl Dimension {
    /// Every dimension, in the order pages show them.
    pub const ALL: [Dimension; 5] = [Self::Referrer, Self::Country, Self::Browser, Self::Os, Self::Device];

    /// The name stored and shown, e.g. `referrer`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Referrer => "referrer",
            Self::Country => "country",
            Self::Browser => "browser",
            Self::Os => "os",
            Self::Device => "device",
        }
    }

    /// The dimension stored under `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|dimension| dimension.name() == name)
    }
}

/// Longest value a top table keeps (a referrer host is at most 253 characters).
const MAX_VALUE_LEN: usize = 253;

/// Figures of a set of clicks, ready to be added to the database's.
#[derive(Debug, Default)]
pub struct Tally {
    /// Per (link key, start of the UTC hour in Unix seconds); a day's figures are its hours'.
    pub hours: HashMap<(i64, i64), Counts>,
    /// People's clicks per (link key, day, dimension, value), for the referrer and the country.
    pub tops: HashMap<(i64, i64, Dimension, Box<str>), i64>,
    /// People's clicks per (link key, day, browser, OS and device together): the three top tables of the user
    /// agent, in one row where separate ones would take three.
    pub agents: HashMap<(i64, i64, Arc<Agent>), i64>,
    /// People seen per (link key, day, keyed visitor hash); the database counts those it had not seen yet.
    pub visitors: HashSet<(i64, i64, i64)>,
}

impl Tally {
    /// Whether there is nothing to add.
    pub fn is_empty(&self) -> bool {
        self.hours.is_empty()
    }

    /// Adds one click; `visitor` is its keyed visitor hash, when the click is a person's and has an address.
    pub fn add(&mut self, event: &ClickEvent, visitor: impl FnOnce(&ClickEvent, i64) -> Option<i64>) {
        let link = event.link.key();
        let seconds = i64::try_from(event.time_ms / 1000).unwrap_or(i64::MAX);
        let hour = seconds - seconds.rem_euclid(HOUR);
        let day = seconds - seconds.rem_euclid(DAY);
        let agent = classify(event.user_agent.as_deref());
        self.hours.entry((link, hour)).or_default().add(agent.class);
        if agent.class != Class::Click {
            return;
        }
        let values =
            [(Dimension::Referrer, event.referrer_host.as_deref()), (Dimension::Country, event.country.as_deref())];
        for (dimension, value) in values {
            if let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) {
                let value: Box<str> = match dimension {
                    Dimension::Country => value.to_ascii_uppercase().into(),
                    _ => value.chars().take(MAX_VALUE_LEN).collect::<String>().into(),
                };
                *self.tops.entry((link, day, dimension, value)).or_default() += 1;
            }
        }
        *self.agents.entry((link, day, agent)).or_default() += 1;
        if let Some(hash) = visitor(event, day) {
            self.visitors.insert((link, day, hash));
        }
    }

    /// Adds `other`'s figures to these (a flush that failed, put back for the next).
    pub fn merge(&mut self, other: Tally) {
        for (key, counts) in other.hours {
            self.hours.entry(key).or_default().merge(counts);
        }
        for (key, clicks) in other.tops {
            *self.tops.entry(key).or_default() += clicks;
        }
        for (key, clicks) in other.agents {
            *self.agents.entry(key).or_default() += clicks;
        }
        self.visitors.extend(other.visitors);
    }

    /// Rows the flush writes, to bound what waits in memory while the database is away.
    pub fn rows(&self) -> usize {
        self.hours.len() + self.tops.len() + self.agents.len() + self.visitors.len()
    }
}
