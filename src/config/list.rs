//! Lists that can be written as a TOML array or as one comma-separated string (as environment variables are).

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum ListOrText {
    List(Vec<String>),
    Text(String),
}

/// Reads `["http", "https"]` or `"http,https"` into trimmed, non-empty, lowercase items.
pub fn comma_separated<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let items = match ListOrText::deserialize(deserializer)? {
        ListOrText::List(items) => items,
        ListOrText::Text(text) => text.split(',').map(str::to_owned).collect(),
    };
    Ok(items.iter().map(|item| item.trim().to_ascii_lowercase()).filter(|item| !item.is_empty()).collect())
}
