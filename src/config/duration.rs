//! Durations written the way Node Blink's `ms` package read them (`"9 hours"`, `"500ms"`, `"10 years"`),
//! or as a plain number of seconds.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A configured length of time, parsed from `ms`-style text or plain seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

/// Why a duration could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{input}` is not a duration (write e.g. \"15 min\", \"9 hours\", \"500ms\" or a number of seconds)")]
pub struct DurationError {
    input: String,
}

const MS_PER_SECOND: f64 = 1_000.0;
const MS_PER_MINUTE: f64 = 60.0 * MS_PER_SECOND;
const MS_PER_HOUR: f64 = 60.0 * MS_PER_MINUTE;
const MS_PER_DAY: f64 = 24.0 * MS_PER_HOUR;
const MS_PER_WEEK: f64 = 7.0 * MS_PER_DAY;
// `ms` counts a year as 365.25 days; keeping that makes "10 years" the same number of seconds as in Node Blink.
const MS_PER_YEAR: f64 = 365.25 * MS_PER_DAY;

/// The unit names `ms` accepts, longest first within each unit so formatting picks the readable one.
const UNITS: &[(&[&str], f64)] = &[
    (&["years", "year", "yrs", "yr", "y"], MS_PER_YEAR),
    (&["weeks", "week", "w"], MS_PER_WEEK),
    (&["days", "day", "d"], MS_PER_DAY),
    (&["hours", "hour", "hrs", "hr", "h"], MS_PER_HOUR),
    (&["minutes", "minute", "mins", "min", "m"], MS_PER_MINUTE),
    (&["seconds", "second", "secs", "sec", "s"], MS_PER_SECOND),
    (&["milliseconds", "millisecond", "msecs", "msec", "ms"], 1.0),
];

impl HumanDuration {
    /// Builds a duration of whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// The inner standard-library duration.
    pub const fn get(self) -> Duration {
        self.0
    }

    fn from_millis_f64(input: &str, millis: f64) -> Result<Self, DurationError> {
        if !millis.is_finite() || millis < 0.0 || millis > u64::MAX as f64 {
            return Err(DurationError { input: input.to_owned() });
        }
        Ok(Self(Duration::from_millis(millis.round() as u64)))
    }
}

impl FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let error = || DurationError { input: input.to_owned() };
        let text = input.trim();
        let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let value: f64 = number.parse().map_err(|_| error())?;
        let unit = unit.trim().to_ascii_lowercase();
        if unit.is_empty() {
            // Blink reads a bare number as seconds (`ms` read it as milliseconds, which nobody meant).
            return Self::from_millis_f64(input, value * MS_PER_SECOND);
        }
        let factor = UNITS
            .iter()
            .find(|(names, _)| names.contains(&unit.as_str()))
            .map(|(_, factor)| *factor)
            .ok_or_else(error)?;
        Self::from_millis_f64(input, value * factor)
    }
}

impl fmt::Display for HumanDuration {
    /// Writes the largest unit that divides the duration exactly, so `"10 years"` reads back as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis == 0 {
            return f.write_str("0s");
        }
        for (names, factor) in UNITS {
            let factor = *factor as u128;
            if millis.is_multiple_of(factor) {
                let count = millis / factor;
                let name = match (names[0], count) {
                    ("milliseconds", _) => "ms",
                    (plural, 1) => plural.trim_end_matches('s'),
                    (plural, _) => plural,
                };
                let gap = if name == "ms" { "" } else { " " };
                return write!(f, "{count}{gap}{name}");
            }
        }
        write!(f, "{millis}ms")
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HumanDurationVisitor;

        impl Visitor<'_> for HumanDurationVisitor {
            type Value = HumanDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"15 min\", \"9 hours\" or a number of seconds")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                text.parse().map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Self::Value, E> {
                Ok(HumanDuration::from_secs(secs))
            }

            fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Self::Value, E> {
                u64::try_from(secs)
                    .map(HumanDuration::from_secs)
                    .map_err(|_| E::custom(format!("a duration cannot be negative ({secs})")))
            }

            fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Self::Value, E> {
                HumanDuration::from_millis_f64(&secs.to_string(), secs * MS_PER_SECOND).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(HumanDurationVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Duration {
        text.parse::<HumanDuration>().expect(text).get()
    }

    #[test]
    fn node_ms_forms_parse() {
        assert_eq!(parse("9 hours"), Duration::from_secs(9 * 3600));
        assert_eq!(parse("15 min"), Duration::from_secs(15 * 60));
        assert_eq!(parse("500ms"), Duration::from_millis(500));
        assert_eq!(parse("5 seconds"), Duration::from_secs(5));
        assert_eq!(parse("2d"), Duration::from_secs(2 * 86_400));
        assert_eq!(parse("1.5h"), Duration::from_secs(5_400));
        assert_eq!(parse("1 week"), Duration::from_secs(7 * 86_400));
        assert_eq!(parse("3 HRS"), Duration::from_secs(3 * 3600));
    }

    #[test]
    fn ten_years_uses_julian_years_like_ms() {
        assert_eq!(parse("10 years"), Duration::from_secs(315_576_000));
    }

    #[test]
    fn bare_numbers_are_seconds() {
        assert_eq!(parse("30"), Duration::from_secs(30));
        assert_eq!(parse(" 0.25 "), Duration::from_millis(250));
    }

    #[test]
    fn nonsense_is_refused_with_an_example() {
        for bad in ["", "ten minutes", "5 fortnights", "-3s", "h", "1e400"] {
            let error = bad.parse::<HumanDuration>().expect_err(bad);
            assert!(error.to_string().contains("9 hours"), "{error}");
        }
    }

    #[test]
    fn display_reads_back_to_the_same_duration() {
        for text in ["10 years", "9 hours", "1 minute", "500ms", "3 weeks", "0s", "1500ms"] {
            let duration: HumanDuration = text.parse().expect(text);
            assert_eq!(duration.to_string(), text);
            assert_eq!(duration.to_string().parse::<HumanDuration>(), Ok(duration));
        }
    }
}
