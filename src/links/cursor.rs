//! Page cursors as clients carry them: an opaque URL-safe string holding the order, the side, and the sort key and
//! id of the link the page is next to.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::ports::{LinkCursor, LinkRow, LinkSort, SortKey};

/// A cursor string that Blink did not make, or made for another version of it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the page cursor is not valid here; start again from the first page")]
pub struct InvalidCursor;

/// The longest cursor accepted; real ones hold one URL and stay far below (URLs are limited well under this).
const MAX_ENCODED: usize = 16 * 1024;

fn sort_name(sort: LinkSort) -> &'static str {
    match sort {
        LinkSort::Id => "id",
        LinkSort::CreatedAt => "createdAt",
        LinkSort::UpdatedAt => "updatedAt",
        LinkSort::OriginalUrl => "originalUrl",
        LinkSort::Brand => "hash",
    }
}

fn sort_named(name: &str) -> Option<LinkSort> {
    [LinkSort::Id, LinkSort::CreatedAt, LinkSort::UpdatedAt, LinkSort::OriginalUrl, LinkSort::Brand]
        .into_iter()
        .find(|sort| sort_name(*sort) == name)
}

impl LinkCursor {
    /// The cursor at `row` in a listing sorted by `sort`; `backwards` for the page before it.
    pub fn at(row: &LinkRow, sort: LinkSort, descending: bool, backwards: bool) -> Self {
        let key = match sort {
            LinkSort::Id => None,
            LinkSort::CreatedAt => row.created_at.map(SortKey::Time),
            LinkSort::UpdatedAt => row.updated_at.map(SortKey::Time),
            LinkSort::OriginalUrl => Some(SortKey::Text(row.original_url.clone())),
            LinkSort::Brand => row.brand.clone().map(SortKey::Text),
        };
        Self { sort, descending, key, id: row.id, backwards }
    }

    /// The opaque string clients pass back.
    pub fn encode(&self) -> String {
        let key = match &self.key {
            None => Value::Null,
            Some(SortKey::Text(text)) => Value::String(text.clone()),
            Some(SortKey::Time(at)) => Value::String(at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        };
        let fields = json!([sort_name(self.sort), self.descending, self.backwards, self.id, key]);
        URL_SAFE_NO_PAD.encode(fields.to_string())
    }

    /// Reads a string [`LinkCursor::encode`] made.
    pub fn decode(encoded: &str) -> Result<Self, InvalidCursor> {
        if encoded.len() > MAX_ENCODED {
            return Err(InvalidCursor);
        }
        let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| InvalidCursor)?;
        let fields: (String, bool, bool, i64, Option<String>) =
            serde_json::from_slice(&bytes).map_err(|_| InvalidCursor)?;
        let (sort, descending, backwards, id, key) = fields;
        let sort = sort_named(&sort).ok_or(InvalidCursor)?;
        let key = match (sort, key) {
            (LinkSort::Id, _) | (_, None) => None,
            (LinkSort::CreatedAt | LinkSort::UpdatedAt, Some(at)) => {
                Some(SortKey::Time(DateTime::parse_from_rfc3339(&at).map_err(|_| InvalidCursor)?.with_timezone(&Utc)))
            }
            (LinkSort::OriginalUrl | LinkSort::Brand, Some(text)) if !text.contains('\0') => Some(SortKey::Text(text)),
            _ => return Err(InvalidCursor),
        };
        Ok(Self { sort, descending, key, id, backwards })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> LinkRow {
        LinkRow {
            id: 42,
            brand: None,
            original_url: "https://example.com/ä?q=\"x\"".into(),
            creator_id: "alice".into(),
            meta: Value::Null,
            redirect_status: None,
            cache_max_age: None,
            created_at: Some(DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap()),
            updated_at: None,
        }
    }

    #[test]
    fn cursors_survive_their_round_trip_for_every_sort() {
        for sort in [LinkSort::Id, LinkSort::CreatedAt, LinkSort::UpdatedAt, LinkSort::OriginalUrl, LinkSort::Brand] {
            for (descending, backwards) in [(true, false), (false, true)] {
                let cursor = LinkCursor::at(&row(), sort, descending, backwards);
                let encoded = cursor.encode();
                assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{encoded}");
                assert_eq!(LinkCursor::decode(&encoded), Ok(cursor));
            }
        }
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for bad in ["", "nope!", "W10", &URL_SAFE_NO_PAD.encode(r#"["secret",true,false,1,null]"#)] {
            assert_eq!(LinkCursor::decode(bad), Err(InvalidCursor), "{bad}");
        }
        let bad_time = URL_SAFE_NO_PAD.encode(r#"["createdAt",true,false,1,"yesterday"]"#);
        assert_eq!(LinkCursor::decode(&bad_time), Err(InvalidCursor));
    }
}
