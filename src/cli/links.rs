//! `blink links …`: manage links from a shell, for scripts and before the API exists.

use std::io::BufRead;

use serde::Serialize;

use crate::links::{API_USER_ID, Created, Link, LinkService, NewLink};

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
    let request = NewLink { url, brand: slug, creator_id: API_USER_ID.into(), ..NewLink::default() };
    let (link, created) = links.create(request).await.map_err(|error| error.to_string())?;
    Ok(match format {
        Format::Json => json(&serde_json::json!({ "created": created == Created::New, "link": output(links, &link) })),
        Format::Text if created == Created::Existing => format!("{} (already shortened)", describe(links, &link)),
        Format::Text => describe(links, &link),
    })
}

/// `blink links list [--search Q] [--limit N]`.
pub async fn list(links: &LinkService, search: Option<String>, limit: u32, format: Format) -> Result<String, String> {
    let found = links.list(search.as_deref(), limit, 0).await.map_err(|error| error.to_string())?;
    Ok(match format {
        Format::Json => json(&found.iter().map(|link| output(links, link)).collect::<Vec<_>>()),
        Format::Text if found.is_empty() => "no links".to_owned(),
        Format::Text => found.iter().map(|link| describe(links, link)).collect::<Vec<_>>().join("\n"),
    })
}

/// `blink links show SLUG`.
pub async fn show(links: &LinkService, slug: &str, format: Format) -> Result<String, String> {
    let link = links
        .find(slug)
        .await
        .map_err(|error| error.to_string())?
        .ok_or_else(|| format!("no link has the slug `{slug}`"))?;
    Ok(match format {
        Format::Json => json(&output(links, &link)),
        Format::Text => {
            let mut lines = vec![
                format!("short url:   {}", links.short_url(&link.slug)),
                format!("target:      {}", link.original_url),
                format!("creator:     {}", link.creator_id),
                format!("created:     {}", link.created_at.map_or("unknown".into(), |time| time.to_rfc3339())),
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
    let link = links.delete(slug).await.map_err(|error| error.to_string())?;
    Ok(match format {
        Format::Json => json(&serde_json::json!({ "deleted": output(links, &link) })),
        Format::Text => format!("deleted {}", describe(links, &link)),
    })
}

/// `blink links import FILE`: one URL per line (`-` reads standard input); blank lines and `#` comments skipped.
pub async fn import(links: &LinkService, reader: impl BufRead, format: Format) -> Result<String, String> {
    let (mut created, mut existing, mut failed) = (0usize, 0usize, Vec::new());
    for (number, line) in reader.lines().enumerate() {
        let line = line.map_err(|error| format!("cannot read line {}: {error}", number + 1))?;
        let url = line.trim();
        if url.is_empty() || url.starts_with('#') {
            continue;
        }
        let request = NewLink { url: url.to_owned(), creator_id: API_USER_ID.into(), ..NewLink::default() };
        match links.create(request).await {
            Ok((_, Created::New)) => created += 1,
            Ok((_, Created::Existing)) => existing += 1,
            Err(error) => failed.push(format!("line {}: {error}", number + 1)),
        }
    }
    let summary = match format {
        Format::Json => json(&serde_json::json!({ "created": created, "existing": existing, "failed": failed })),
        Format::Text => {
            let mut text = format!("created {created}, already shortened {existing}, failed {}", failed.len());
            for failure in &failed {
                text.push_str("\n  ");
                text.push_str(failure);
            }
            text
        }
    };
    if failed.is_empty() { Ok(summary) } else { Err(summary) }
}
