//! `blink links …`: manage links from a shell, for scripts and before the API exists.

use serde::Serialize;

use crate::auth::Caller;
use crate::links::{Created, DeclaredPlan, Link, LinkQuery, LinkService, NewLink};

/// One link as printed by `--json`: the link plus its short URLs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LinkOutput<'a> {
    #[serde(flatten)]
    link: &'a Link,
    short_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    branded_url: Option<String>,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Lines for a person.
    Text,
    /// JSON for a script.
    Json,
}

fn output<'a>(links: &LinkService, link: &'a Link) -> LinkOutput<'a> {
    LinkOutput {
        link,
        short_url: links.short_url(&link.slug),
        branded_url: link.brand.as_deref().map(|brand| links.short_url(brand)),
    }
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn describe(links: &LinkService, link: &Link) -> String {
    let brand = link.brand.as_deref().map(|brand| format!(" (also {})", links.short_url(brand))).unwrap_or_default();
    format!("{}{brand} -> {}", links.short_url(&link.slug), link.original_url)
}

/// `blink links create URL [--slug S]`.
pub async fn create(links: &LinkService, url: String, slug: Option<String>, format: Format) -> Result<String, String> {
    let request = NewLink { url, brand: slug, ..NewLink::default() };
    let (link, created) = links.create(&Caller::operator(), request).await.map_err(|error| error.to_string())?;
    Ok(match format {
        Format::Json => json(&serde_json::json!({ "created": created == Created::New, "link": output(links, &link) })),
        Format::Text if created == Created::Existing => format!("{} (already shortened)", describe(links, &link)),
        Format::Text => describe(links, &link),
    })
}

/// `blink links list [--search Q] [--limit N]`.
pub async fn list(links: &LinkService, search: Option<String>, limit: u32, format: Format) -> Result<String, String> {
    let query = LinkQuery { search: search.as_deref(), limit: i64::from(limit), ..LinkQuery::default() };
    let (found, _) = links.list(&Caller::operator(), &query).await.map_err(|error| error.to_string())?;
    Ok(match format {
        Format::Json => json(&found.iter().map(|link| output(links, link)).collect::<Vec<_>>()),
        Format::Text if found.is_empty() => "no links".to_owned(),
        Format::Text => found.iter().map(|link| describe(links, link)).collect::<Vec<_>>().join("\n"),
    })
}

/// `blink links show SLUG`.
pub async fn show(links: &LinkService, slug: &str, format: Format) -> Result<String, String> {
    let link = links.find(&Caller::operator(), slug).await.map_err(|error| error.to_string())?;
    Ok(match format {
        Format::Json => json(&output(links, &link)),
        Format::Text => {
            let mut lines = vec![
                format!("short url:   {}", links.short_url(&link.slug)),
                format!("target:      {}", link.original_url),
                format!("creator:     {}", link.creator_id),
                format!("created:     {}", link.created_at.map_or_else(|| "unknown".to_owned(), |at| at.to_rfc3339())),
            ];
            if let Some(brand) = &link.brand {
                lines.insert(1, format!("branded url: {}", links.short_url(brand)));
            }
            if let Some(title) = &link.meta.title {
                lines.push(format!("title:       {title}"));
            }
            lines.join("\n")
        }
    })
}

/// `blink links delete SLUG`.
pub async fn delete(links: &LinkService, slug: &str, format: Format) -> Result<String, String> {
    let link = links.delete(&Caller::operator(), slug).await.map_err(|error| error.to_string())?;
    Ok(match format {
        Format::Json => json(&serde_json::json!({ "deleted": output(links, &link) })),
        Format::Text => format!("deleted {}", describe(links, &link)),
    })
}

/// `blink links plan --json` and `apply --json`: the plan as a script reads it.
pub fn plan_json(plan: &DeclaredPlan) -> String {
    let changes = |changes: &[crate::links::FieldChange]| {
        changes
            .iter()
            .map(|change| serde_json::json!({ "field": change.field, "from": change.from, "to": change.to }))
            .collect::<Vec<_>>()
    };
    let entries: Vec<_> = plan
        .entries
        .iter()
        .map(|entry| {
            serde_json::json!({
                "slug": entry.slug,
                "url": entry.url,
                "action": format!("{:?}", entry.action).to_ascii_lowercase(),
                "changes": changes(&entry.changes),
                "drift": changes(&entry.drift),
            })
        })
        .collect();
    json(&serde_json::json!({
        "entries": entries,
        "problems": plan.problems,
        "pending": plan.has_work() && !plan.applied,
        "applied": plan.applied,
    }))
}
