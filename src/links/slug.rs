//! Slugs: automatic ones are hashids of the link id; brand (custom) ones follow rules that keep them from
//! shadowing an automatic slug or a route Blink serves.

use std::collections::HashSet;

use super::hashids::Hashids;

/// Longest slug worth looking up; anything longer cannot exist.
const MAX_LOOKUP_LEN: usize = 64;

/// What a slug in a request refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlugRef<'a> {
    /// An automatic slug: the hashid of this link id.
    Id(i64),
    /// A brand slug.
    Brand(&'a str),
    /// Characters no slug can contain: not found without asking the database.
    Invalid,
}

/// Why a brand slug was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SlugError {
    /// Outside the configured length limits.
    #[error("a custom slug must be {min} to {max} characters long")]
    Length { min: usize, max: usize },
    /// Characters outside `A-Z a-z 0-9 _ -`.
    #[error("a custom slug may only contain letters, digits, `_` and `-`")]
    Characters,
    /// It names a path Blink serves itself.
    #[error("`{0}` is reserved: Blink serves that path itself")]
    Reserved(String),
    /// It reads as an automatic slug, so it would hide (or be hidden by) another link.
    #[error("`{0}` looks like an automatic short link; choose another custom slug")]
    ShadowsHashid(String),
}

/// The slug rules of one deployment.
#[derive(Clone, Debug)]
pub struct SlugRules {
    hashids: Hashids,
    brand_min: usize,
    brand_max: usize,
    reserved: HashSet<String>,
}

impl SlugRules {
    /// Rules with hashids salted by `salt`, brand slugs of `brand_min..=brand_max` characters, and the
    /// top-level path segments the router serves, which no brand slug may take.
    pub fn new(salt: &str, min_length: usize, brand_min: usize, brand_max: usize, reserved: &[&str]) -> Self {
        Self {
            hashids: Hashids::new(salt, min_length),
            brand_min,
            brand_max,
            reserved: reserved.iter().map(|word| word.to_ascii_lowercase()).collect(),
        }
    }

    /// The automatic slug of link `id`.
    pub fn encode(&self, id: i64) -> String {
        self.hashids.encode(id.unsigned_abs())
    }

    /// Classifies a slug from a URL. A brand slug can never decode as a hashid (creation refuses those),
    /// so one lookup is always enough.
    pub fn parse<'a>(&self, slug: &'a str) -> SlugRef<'a> {
        if slug.is_empty() || slug.len() > MAX_LOOKUP_LEN || !slug.bytes().all(is_slug_byte) {
            return SlugRef::Invalid;
        }
        match self.hashids.decode(slug).and_then(|id| i64::try_from(id).ok()) {
            Some(id) => SlugRef::Id(id),
            None => SlugRef::Brand(slug),
        }
    }

    /// Checks a requested brand slug.
    pub fn validate_brand(&self, slug: &str) -> Result<(), SlugError> {
        let length = slug.chars().count();
        if length < self.brand_min || length > self.brand_max {
            return Err(SlugError::Length { min: self.brand_min, max: self.brand_max });
        }
        if !slug.bytes().all(is_slug_byte) {
            return Err(SlugError::Characters);
        }
        // Case-insensitively: `/Health` is not a route, but a link there would confuse everyone.
        if self.reserved.contains(&slug.to_ascii_lowercase()) {
            return Err(SlugError::Reserved(slug.to_owned()));
        }
        if self.hashids.decode(slug).is_some() {
            return Err(SlugError::ShadowsHashid(slug.to_owned()));
        }
        Ok(())
    }
}

fn is_slug_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> SlugRules {
        SlugRules::new("test-long.com", 4, 4, 25, &["health", "api", "robots.txt"])
    }

    #[test]
    fn automatic_slugs_round_trip_through_parse() {
        let rules = rules();
        assert_eq!(rules.encode(1), "4rEb");
        assert_eq!(rules.encode(100_000), "1n6BZ");
        assert_eq!(rules.parse("4rEb"), SlugRef::Id(1));
        assert_eq!(rules.parse("1n6BZ"), SlugRef::Id(100_000));
    }

    #[test]
    fn slugs_with_dashes_and_underscores_are_brand_lookups_not_crashes() {
        let rules = rules();
        assert_eq!(rules.parse("my-link"), SlugRef::Brand("my-link"));
        assert_eq!(rules.parse("a_b-c"), SlugRef::Brand("a_b-c"));
        assert_eq!(rules.parse("-"), SlugRef::Brand("-"));
    }

    #[test]
    fn impossible_slugs_are_invalid() {
        let rules = rules();
        for slug in ["", "a.b", "with space", "ünïcode", "%41", &"x".repeat(65)] {
            assert_eq!(rules.parse(slug), SlugRef::Invalid, "{slug}");
        }
    }

    #[test]
    fn brand_slugs_follow_the_length_limits() {
        let rules = rules();
        assert_eq!(rules.validate_brand("abc"), Err(SlugError::Length { min: 4, max: 25 }));
        assert_eq!(rules.validate_brand(&"a".repeat(26)), Err(SlugError::Length { min: 4, max: 25 }));
        assert_eq!(rules.validate_brand(&"a-".repeat(12)), Ok(()));
        assert_eq!(rules.validate_brand("my_Link-1"), Ok(()));
        let custom = SlugRules::new("s", 4, 2, 3, &[]);
        assert_eq!(custom.validate_brand("ab"), Ok(()));
        assert!(custom.validate_brand("abcd").is_err());
    }

    #[test]
    fn brand_slugs_allow_only_url_safe_characters() {
        for slug in ["with space", "dot.dot", "slash/y", "émoji", "q?x=1"] {
            assert_eq!(rules().validate_brand(slug), Err(SlugError::Characters), "{slug}");
        }
    }

    #[test]
    fn brand_slugs_may_not_take_reserved_words_in_any_case() {
        assert_eq!(rules().validate_brand("health"), Err(SlugError::Reserved("health".into())));
        assert_eq!(rules().validate_brand("HEALTH"), Err(SlugError::Reserved("HEALTH".into())));
    }

    #[test]
    fn brand_slugs_that_decode_as_hashids_are_refused() {
        let rules = rules();
        let hashid = rules.encode(123_456);
        assert_eq!(rules.validate_brand(&hashid), Err(SlugError::ShadowsHashid(hashid.clone())));
        assert_eq!(rules.validate_brand("4rEb"), Err(SlugError::ShadowsHashid("4rEb".into())));
    }

    #[test]
    fn brand_slugs_are_case_sensitive_lookups() {
        let rules = rules();
        assert_eq!(rules.parse("MyLink"), SlugRef::Brand("MyLink"));
        assert_eq!(rules.parse("mylink"), SlugRef::Brand("mylink"));
    }
}
