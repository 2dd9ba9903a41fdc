//! `wordy-slugs`: readable adjective-noun slugs such as `brave-otter`.
//!
//! Config (all optional): `separator` (default `-`); `suffix_digits` (digits
//! appended from the second attempt on, default 2).
blink_plugin_sdk::generate!(slug_rules);

use blink_plugin_sdk::{clock, config};
use exports::blink::plugin::slug_rules::{Guest, SlugRequest};

const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brave", "bright", "calm", "clever", "cosy", "crisp", "daring", "eager", "fancy", "gentle",
    "glad", "golden", "happy", "jolly", "keen", "kind", "lively", "lucky", "merry", "mighty", "neat", "nimble",
    "proud", "quick", "quiet", "rapid", "shiny", "silver", "smart", "snowy", "sunny", "swift", "tidy", "vivid", "warm",
    "wise", "witty", "zesty",
];

const NOUNS: &[&str] = &[
    "badger", "beacon", "brook", "canyon", "cedar", "comet", "coral", "falcon", "fern", "fox", "garden", "harbor",
    "heron", "island", "lantern", "lark", "maple", "meadow", "moon", "otter", "owl", "panda", "pebble", "pine",
    "planet", "puffin", "raven", "river", "robin", "rocket", "sparrow", "spruce", "star", "stream", "tiger", "tulip",
    "valley", "walrus", "willow", "zebra",
];

struct WordySlugs;

impl Guest for WordySlugs {
    fn generate(request: SlugRequest) -> Option<String> {
        let separator = config::get("separator").unwrap_or_else(|| "-".to_owned());
        let digits: u32 = config::parse_or("suffix_digits", 2).min(9);
        let mut hash = fnv1a(request.url.as_bytes());
        hash = mix(hash ^ clock::now_ms() ^ u64::from(request.attempt).rotate_left(32));
        let adjective = ADJECTIVES[(hash % ADJECTIVES.len() as u64) as usize];
        let noun = NOUNS[((hash >> 16) % NOUNS.len() as u64) as usize];
        let mut slug = format!("{adjective}{separator}{noun}");
        if request.attempt > 0 && digits > 0 {
            let number = (hash >> 32) % 10u64.pow(digits);
            slug.push_str(&format!("{separator}{number:0width$}", width = digits as usize));
        }
        Some(slug)
    }

    fn validate(_slug: String) -> Result<(), String> {
        Ok(())
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

export!(WordySlugs);
