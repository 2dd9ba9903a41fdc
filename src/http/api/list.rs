//! react-admin's list parameters, as Node Blink accepted them: `range=[start,end]`, `sort=["field","ASC"]`,
//! `filter={"field":value}`, answered with `Content-Range: <unit> <start>-<end>/<total>`.

use super::error::ApiError;
use crate::links::LinkCursor;

/// Longest page a client may ask for.
pub const MAX_PAGE: i64 = 1000;
/// Page length when no `range` is given.
pub const DEFAULT_PAGE: i64 = 50;

/// A page: skip `offset`, return at most `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

/// Parses `range=[start,end]` (inclusive, as react-admin sends it).
pub fn parse_range(range: Option<&str>) -> Result<Page, ApiError> {
    let Some(text) = range else { return Ok(Page { offset: 0, limit: DEFAULT_PAGE }) };
    let bounds: Vec<i64> = serde_json::from_str(text)
        .map_err(|_| ApiError::bad_field("range", "expected a JSON array of two integers, e.g. [0,24]"))?;
    match bounds[..] {
        [start, end] if start >= 0 && end >= start => {
            Ok(Page { offset: start, limit: (end - start + 1).min(MAX_PAGE) })
        }
        // An empty range is not an error, just an empty page.
        [start, end] if start >= 0 && end >= 0 => Ok(Page { offset: start, limit: 0 }),
        _ => Err(ApiError::bad_field("range", "expected [start,end] with 0 <= start <= end")),
    }
}

/// Parses `sort=["field","ASC"|"DESC"]` against the sortable fields; `None` when absent.
pub fn parse_sort<T: Copy>(sort: Option<&str>, allowed: &[(&str, T)]) -> Result<Option<(T, bool)>, ApiError> {
    let Some(text) = sort else { return Ok(None) };
    let pair: (String, String) = serde_json::from_str(text)
        .map_err(|_| ApiError::bad_field("sort", r#"expected a JSON array like ["createdAt","DESC"]"#))?;
    let descending = match pair.1.to_ascii_uppercase().as_str() {
        "ASC" => false,
        "DESC" => true,
        other => return Err(ApiError::bad_field("sort", format!("order `{other}` is neither ASC nor DESC"))),
    };
    let names = allowed.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
    allowed
        .iter()
        .find(|(name, _)| *name == pair.0)
        .map(|(_, field)| Some((*field, descending)))
        .ok_or_else(|| ApiError::bad_field("sort", format!("cannot sort by `{}`; sortable fields: {names}", pair.0)))
}

/// Parses `filter={...}`, refusing fields outside `allowed`.
pub fn parse_filter(
    filter: Option<&str>,
    allowed: &[&str],
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let Some(text) = filter else { return Ok(serde_json::Map::new()) };
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|_| ApiError::bad_field("filter", r#"expected a JSON object like {"creatorId":"alice"}"#))?;
    if let Some(unknown) = map.keys().find(|key| !allowed.contains(&key.as_str())) {
        return Err(ApiError::bad_field(
            "filter",
            format!("cannot filter by `{unknown}`; filterable fields: {}", allowed.join(", ")),
        ));
    }
    if map.values().any(holds_nul) {
        return Err(ApiError::bad_field("filter", NUL_REFUSED));
    }
    Ok(map)
}

/// No value Blink stores can contain a NUL character (PostgreSQL refuses them), so one in a query is a mistake.
const NUL_REFUSED: &str = "must not contain NUL characters";

fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        _ => false,
    }
}

/// The search term: `q`, else the filter's `q`.
pub fn search(
    q: Option<String>,
    filter: &serde_json::Map<String, serde_json::Value>,
) -> Result<Option<String>, ApiError> {
    if q.as_deref().is_some_and(|q| q.contains('\0')) {
        return Err(ApiError::bad_field("q", NUL_REFUSED));
    }
    Ok(match q {
        Some(q) => Some(q),
        None => filter_text(filter, "q")?,
    })
}

/// A filter value that must be a string.
pub fn filter_text(
    filter: &serde_json::Map<String, serde_json::Value>,
    field: &str,
) -> Result<Option<String>, ApiError> {
    match filter.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(ApiError::bad_field("filter", format!("`{field}` must be a string"))),
    }
}

/// A filter value that may be one string or a list of them.
pub fn filter_texts(
    filter: &serde_json::Map<String, serde_json::Value>,
    field: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    match filter.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => Ok(Some(vec![text.clone()])),
        Some(serde_json::Value::Array(items)) => {
            items.iter().map(|item| item.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>().map(Some).ok_or_else(
                || ApiError::bad_field("filter", format!("`{field}` must be a string or a list of strings")),
            )
        }
        Some(_) => Err(ApiError::bad_field("filter", format!("`{field}` must be a string or a list of strings"))),
    }
}

/// Parses a page cursor (the `Next-Cursor` or `Previous-Cursor` header of an earlier page).
pub fn cursor(cursor: Option<&str>) -> Result<Option<LinkCursor>, ApiError> {
    cursor
        .map(|text| LinkCursor::decode(text).map_err(|error| ApiError::bad_field("cursor", error.to_string())))
        .transpose()
}

/// The `Content-Range` for `returned` items of `total` starting at `offset`.
pub fn content_range(unit: &str, offset: i64, returned: usize, total: i64) -> String {
    if returned == 0 {
        return format!("{unit} */{total}");
    }
    let returned = i64::try_from(returned).unwrap_or(i64::MAX);
    format!("{unit} {offset}-{}/{total}", offset + returned - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_and_capped() {
        assert_eq!(parse_range(Some("[0,9]")).unwrap(), Page { offset: 0, limit: 10 });
        assert_eq!(parse_range(Some("[10,10]")).unwrap(), Page { offset: 10, limit: 1 });
        assert_eq!(parse_range(Some("[0,999999]")).unwrap().limit, MAX_PAGE);
        assert_eq!(parse_range(None).unwrap(), Page { offset: 0, limit: DEFAULT_PAGE });
        assert_eq!(parse_range(Some("[5,1]")).unwrap().limit, 0);
        for bad in ["[-1,3]", "[1]", "nope", "[1,2,3]"] {
            assert!(parse_range(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn sorting_only_on_allowed_fields() {
        let allowed = [("createdAt", 1), ("id", 2)];
        assert_eq!(parse_sort(Some(r#"["createdAt","DESC"]"#), &allowed).unwrap(), Some((1, true)));
        assert_eq!(parse_sort(Some(r#"["id","asc"]"#), &allowed).unwrap(), Some((2, false)));
        assert!(parse_sort(Some(r#"["password","ASC"]"#), &allowed).is_err());
        assert!(parse_sort(Some(r#"["id","SIDEWAYS"]"#), &allowed).is_err());
    }

    #[test]
    fn filtering_only_on_allowed_fields() {
        assert!(parse_filter(Some(r#"{"creatorId":"a"}"#), &["creatorId"]).is_ok());
        assert!(parse_filter(Some(r#"{"role":"x"}"#), &["creatorId"]).is_err());
        assert!(parse_filter(Some("[1]"), &["creatorId"]).is_err());
    }

    #[test]
    fn content_ranges_follow_react_admin() {
        assert_eq!(content_range("links", 0, 10, 42), "links 0-9/42");
        assert_eq!(content_range("links", 40, 2, 42), "links 40-41/42");
        assert_eq!(content_range("users", 0, 0, 0), "users */0");
    }
}
