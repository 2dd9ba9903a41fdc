//! `blink links export` and `blink links import`: links to and from TOML (`[[link]]` tables, ready for
//! `blink.toml`), CSV and JSON, plus one URL per line and the CSV exports of Shlink, YOURLS, Kutt and Bitly.
//! Reading and writing files is here; which records become links is the link service's decision.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::auth::Caller;
use crate::links::{ImportSummary, Link, LinkCursor, LinkQuery, LinkRecord, LinkService, LinkSort};

use super::links::Format;

/// A file format of `export` and `import`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// `[[link]]` tables, as `blink.toml` declares links.
    Toml,
    /// A header row naming the columns; Blink's own and those of Shlink, YOURLS, Kutt and Bitly are understood.
    Csv,
    /// An array of objects with the same names as the CSV columns.
    Json,
    /// One URL per line (import only); blank lines and `#` comments are skipped.
    Lines,
}

impl FileFormat {
    /// The format named `name` (`toml`, `csv`, `json`, `txt`/`lines`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "toml" => Some(Self::Toml),
            "csv" => Some(Self::Csv),
            "json" => Some(Self::Json),
            "txt" | "text" | "lines" | "urls" => Some(Self::Lines),
            _ => None,
        }
    }

    /// The format of `path` by its extension; anything else is one URL per line.
    pub fn of_path(path: &Path) -> Self {
        path.extension().and_then(|ext| ext.to_str()).and_then(Self::from_name).unwrap_or(Self::Lines)
    }
}

/// Links read per page of an export.
const EXPORT_PAGE: i64 = 5_000;

/// One link as exported: the names of the CSV columns, the JSON keys and the `[[link]]` keys.
#[derive(Serialize)]
struct ExportRecord<'a> {
    /// The custom slug if there is one, else the automatic one.
    slug: &'a str,
    /// The automatic slug, when `slug` is a custom one (so both keep working after an import).
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_slug: Option<&'a str>,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_max_age: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
}

impl<'a> ExportRecord<'a> {
    fn of(link: &'a Link, created_at: Option<String>) -> Self {
        Self {
            slug: link.brand.as_deref().unwrap_or(&link.slug),
            auto_slug: link.brand.as_ref().map(|_| link.slug.as_str()),
            url: &link.original_url,
            title: link.meta.title.as_deref(),
            status: link.redirect_status.map(u16::from),
            cache_max_age: link.cache_max_age,
            created_at,
        }
    }
}

const CSV_COLUMNS: [&str; 7] = ["slug", "auto_slug", "url", "title", "status", "cache_max_age", "created_at"];

/// `blink links export --format F`: every link, oldest first, to `out`; answers how many.
pub async fn export(links: &LinkService, format: FileFormat, out: &mut impl Write) -> Result<usize, String> {
    let io = |error: std::io::Error| format!("cannot write the export: {error}");
    let mut csv_out = None;
    match format {
        FileFormat::Toml => writeln!(
            out,
            "# Links exported by `blink links export`. Paste these [[link]] tables into blink.toml to declare them,\n\
             # or read them back with `blink links import FILE.toml`."
        )
        .map_err(io)?,
        FileFormat::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer.write_record(CSV_COLUMNS).map_err(|error| error.to_string())?;
            csv_out = Some(writer);
        }
        FileFormat::Json => write!(out, "[").map_err(io)?,
        FileFormat::Lines => return Err("export writes toml, csv or json".into()),
    }
    let mut count = 0usize;
    let mut cursor = None;
    loop {
        let query = LinkQuery {
            sort: LinkSort::Id,
            descending: false,
            limit: EXPORT_PAGE,
            cursor: cursor.clone(),
            count_limit: Some(0),
            ..LinkQuery::default()
        };
        let page = links.page(&Caller::operator(), &query).await.map_err(|error| error.to_string())?;
        for link in &page.links {
            // Not in TOML: a [[link]] table pasted into blink.toml declares what a link is, not when it was made.
            let created_at = link
                .created_at
                .filter(|_| format != FileFormat::Toml)
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true));
            let record = ExportRecord::of(link, created_at);
            match format {
                FileFormat::Toml => {
                    let table = toml::to_string(&record).map_err(|error| error.to_string())?;
                    write!(out, "\n[[link]]\n{table}").map_err(io)?;
                }
                FileFormat::Csv => {
                    let writer = csv_out.as_mut().ok_or("no CSV writer")?;
                    let status = record.status.map(|s| s.to_string()).unwrap_or_default();
                    let max_age = record.cache_max_age.map(|s| s.to_string()).unwrap_or_default();
                    writer
                        .write_record([
                            record.slug,
                            record.auto_slug.unwrap_or_default(),
                            record.url,
                            record.title.unwrap_or_default(),
                            &status,
                            &max_age,
                            record.created_at.as_deref().unwrap_or_default(),
                        ])
                        .map_err(|error| error.to_string())?;
                }
                FileFormat::Json => {
                    let separator = if count == 0 { "\n  " } else { ",\n  " };
                    let json = serde_json::to_string(&record).map_err(|error| error.to_string())?;
                    write!(out, "{separator}{json}").map_err(io)?;
                }
                FileFormat::Lines => {}
            }
            count += 1;
        }
        // A page's CSV goes out at once, so memory holds one page, whatever the number of links.
        if let Some(writer) = csv_out.take() {
            out.write_all(&writer.into_inner().map_err(|error| error.to_string())?).map_err(io)?;
            csv_out = Some(csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new()));
        }
        match page.links.last() {
            Some(last) if page.next.is_some() || page.links.len() as i64 == EXPORT_PAGE => {
                cursor = Some(LinkCursor {
                    sort: LinkSort::Id,
                    descending: false,
                    key: None,
                    id: last.id,
                    backwards: false,
                });
            }
            _ => break,
        }
    }
    if format == FileFormat::Json {
        writeln!(out, "{}]", if count == 0 { "" } else { "\n" }).map_err(io)?;
    }
    out.flush().map_err(io)?;
    Ok(count)
}

/// A record read from a file, or why it cannot be read, with where it is (`line 12`, `record 3`).
type Read = (String, Result<LinkRecord, String>);

/// The records of `text` in `format`.
pub fn read_records(text: &str, format: FileFormat) -> Result<Vec<Read>, String> {
    match format {
        FileFormat::Lines => Ok(text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
            .map(|(index, line)| {
                (format!("line {}", index + 1), Ok(LinkRecord { url: line.trim().to_owned(), ..LinkRecord::default() }))
            })
            .collect()),
        FileFormat::Csv => read_csv(text),
        FileFormat::Json => {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|error| format!("not valid JSON: {error}"))?;
            let items = match value {
                serde_json::Value::Array(items) => items,
                serde_json::Value::Object(mut object) => match object.remove("links").or_else(|| object.remove("data"))
                {
                    Some(serde_json::Value::Array(items)) => items,
                    _ => return Err("JSON import expects an array of links (or an object with a `links` array)".into()),
                },
                _ => return Err("JSON import expects an array of links".into()),
            };
            Ok(items
                .into_iter()
                .enumerate()
                .map(|(index, item)| {
                    let place = format!("record {}", index + 1);
                    let fields = match item {
                        serde_json::Value::Object(object) => json_fields(&object),
                        serde_json::Value::String(url) => vec![("url".to_owned(), url)],
                        _ => return (place, Err("not an object".to_owned())),
                    };
                    (place, record_from_fields(&fields))
                })
                .collect())
        }
        FileFormat::Toml => {
            let table: toml::Table = toml::from_str(text).map_err(|error| format!("not valid TOML: {error}"))?;
            let Some(toml::Value::Array(items)) = table.get("link") else {
                return Err("TOML import expects [[link]] tables".into());
            };
            Ok(items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let place = format!("[[link]] #{}", index + 1);
                    match item.as_table() {
                        Some(table) => (place, record_from_fields(&toml_fields(table))),
                        None => (place, Err("not a table".to_owned())),
                    }
                })
                .collect())
        }
    }
}

fn json_fields(object: &serde_json::Map<String, serde_json::Value>) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    for (key, value) in object {
        match value {
            serde_json::Value::String(text) => fields.push((key.clone(), text.clone())),
            serde_json::Value::Number(number) => fields.push((key.clone(), number.to_string())),
            // Blink's own `links list --json` nests the title in `meta`.
            serde_json::Value::Object(meta) if key == "meta" => {
                if let Some(serde_json::Value::String(title)) = meta.get("title") {
                    fields.push(("title".into(), title.clone()));
                }
            }
            _ => {}
        }
    }
    fields
}

fn toml_fields(table: &toml::Table) -> Vec<(String, String)> {
    table
        .iter()
        .filter_map(|(key, value)| match value {
            toml::Value::String(text) => Some((key.clone(), text.clone())),
            toml::Value::Integer(number) => Some((key.clone(), number.to_string())),
            toml::Value::Datetime(at) => Some((key.clone(), at.to_string())),
            _ => None,
        })
        .collect()
}

fn read_csv(text: &str) -> Result<Vec<Read>, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|error| format!("cannot read the CSV header: {error}"))?
        .iter()
        .map(str::to_owned)
        .collect();
    if !headers.iter().any(|header| column(header) == Some(Column::Url)) {
        return Err(format!(
            "the CSV header ({}) names no URL column: expected one of url, long_url, longUrl, original_url, target",
            headers.join(", ")
        ));
    }
    let mut records = Vec::new();
    for (index, row) in reader.records().enumerate() {
        // The header is line 1; a record spanning lines is named by its first.
        let line = row.as_ref().ok().and_then(|row| row.position()).map_or(index + 2, |at| at.line() as usize);
        let place = format!("line {line}");
        match row {
            Ok(row) => {
                let fields: Vec<(String, String)> =
                    headers.iter().zip(row.iter()).map(|(header, cell)| (header.clone(), cell.to_owned())).collect();
                records.push((place, record_from_fields(&fields)));
            }
            Err(error) => records.push((place, Err(format!("unreadable CSV: {error}")))),
        }
    }
    Ok(records)
}

/// What a column (or JSON key, or TOML key) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Url,
    Slug,
    /// Blink's `links list --json`: the custom slug, where `slug` is the automatic one.
    Brand,
    AutoSlug,
    /// A whole short URL (`https://s.test/abc`, Bitly's `bit.ly/abc`): its last path segment is the slug.
    ShortUrl,
    /// Bitly's custom bitlinks (`https://brand.ly/Spring`, several separated by commas): preferred over its
    /// automatic bitlink.
    CustomShortUrl,
    Title,
    Status,
    CacheMaxAge,
    CreatedAt,
}

/// The column a header names, by its letters and digits alone, lowercased: `Long URL`, `long_url` and `longUrl`
/// are one. Blink's names first, then Node Blink's and the peers': Shlink (`shortCode`, `longUrl`, `shortUrl`,
/// `dateCreated`), YOURLS (`keyword`, `url`, `timestamp`), Kutt (`address`, `target`, `link`), Bitly (`long_url`,
/// `link`, `custom_bitlinks`, `created_at`).
fn column(header: &str) -> Option<Column> {
    let name: String = header.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    Some(match name.as_str() {
        "url" | "longurl" | "originalurl" | "target" | "targeturl" | "destination" | "destinationurl" => Column::Url,
        "slug" | "shortcode" | "keyword" | "address" | "backhalf" | "customslug" | "hash" => Column::Slug,
        "brand" => Column::Brand,
        "autoslug" => Column::AutoSlug,
        "shorturl" | "link" | "bitlink" | "shortlink" | "shorturlfull" => Column::ShortUrl,
        "custombitlinks" | "custombitlink" => Column::CustomShortUrl,
        "title" => Column::Title,
        "status" | "redirectstatus" => Column::Status,
        "cachemaxage" => Column::CacheMaxAge,
        "createdat" | "datecreated" | "created" | "timestamp" | "creationdate" => Column::CreatedAt,
        _ => return None,
    })
}

/// The link a row of named fields describes.
fn record_from_fields(fields: &[(String, String)]) -> Result<LinkRecord, String> {
    let mut record = LinkRecord::default();
    let (mut slug, mut brand, mut short_url, mut custom) = (None, None, None, None);
    for (name, value) in fields {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match column(name) {
            Some(Column::Url) => record.url = value.to_owned(),
            Some(Column::Slug) => slug = Some(value.to_owned()),
            Some(Column::Brand) => brand = Some(value.to_owned()),
            Some(Column::AutoSlug) => record.auto_slug = Some(value.to_owned()),
            Some(Column::ShortUrl) => short_url = Some(value.to_owned()),
            // Bitly lists several custom bitlinks in one cell; the first is kept.
            Some(Column::CustomShortUrl) => {
                custom = value.split([',', ' ']).find(|part| !part.is_empty()).map(str::to_owned);
            }
            Some(Column::Title) => record.title = Some(value.to_owned()),
            Some(Column::Status) => {
                record.status = Some(value.parse().map_err(|_| format!("status `{value}` is not a number"))?);
            }
            Some(Column::CacheMaxAge) => {
                record.cache_max_age =
                    Some(value.parse().map_err(|_| format!("cache_max_age `{value}` is not a number of seconds"))?);
            }
            Some(Column::CreatedAt) => record.created_at = parse_time(value),
            None => {}
        }
    }
    if record.url.is_empty() {
        return Err("no URL".into());
    }
    record.slug = match (brand, slug) {
        // `links list --json`: `slug` is the automatic slug and `brand` the custom one.
        (Some(brand), Some(auto)) => {
            record.auto_slug.get_or_insert(auto);
            Some(brand)
        }
        (brand, slug) => brand.or(slug).or_else(|| custom.or(short_url).as_deref().and_then(last_segment)),
    };
    Ok(record)
}

/// The slug of a short URL: its last non-empty path segment (`https://s.test/abc` and `bit.ly/abc` give `abc`).
fn last_segment(short_url: &str) -> Option<String> {
    let without_query = short_url.split(['?', '#']).next().unwrap_or_default();
    let without_scheme = without_query.split_once("://").map_or(without_query, |(_, rest)| rest);
    let (_, path) = without_scheme.split_once('/')?;
    path.rsplit('/').find(|segment| !segment.is_empty()).map(str::to_owned)
}

/// RFC 3339, or `YYYY-MM-DD HH:MM:SS` taken as UTC (YOURLS, Kutt); anything else is left out.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").ok().map(|at| at.and_utc()))
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|at| at.and_utc()))
}

/// Records per batch: one transaction each.
pub const IMPORT_BATCH: usize = 5_000;

/// `blink links import FILE`: every record of `text`, in batches; a refused record is reported and never stops the
/// others. When `interrupt` resolves (Ctrl-C), the import stops after the batch being written, so no batch is ever
/// half-written (a killed process's open transaction is rolled back by the database).
pub async fn import(
    links: &LinkService,
    text: &str,
    format: FileFormat,
    output: Format,
    interrupt: impl Future<Output = ()> + Send + 'static,
) -> Result<String, String> {
    let records = read_records(text, format)?;
    let total = records.len();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            interrupt.await;
            stop.store(true, Ordering::SeqCst);
        })
    };
    let progress = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut summary = ImportSummary::default();
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    let mut records = records.into_iter().peekable();
    let mut interrupted = false;
    while records.peek().is_some() {
        if stop.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        batch.clear();
        for (place, record) in records.by_ref().take(IMPORT_BATCH) {
            match record {
                Ok(record) => batch.push((place, record)),
                Err(reason) => summary.refuse(place, reason),
            }
        }
        links.import_batch(&Caller::operator(), &batch, &mut summary).await.map_err(|error| {
            format!("the import stopped: {error} ({} of {total} records done before this batch)", summary.total())
        })?;
        if progress {
            let rate = summary.total() as f64 / started.elapsed().as_secs_f64().max(0.001);
            eprint!("\r{} / {total} records ({rate:.0}/s)   ", summary.total());
        }
    }
    watcher.abort();
    if progress {
        eprintln!();
    }
    let seconds = started.elapsed().as_secs_f64();
    let text = match output {
        Format::Json => serde_json::to_string_pretty(&serde_json::json!({
            "created": summary.created,
            "existing": summary.existing,
            "refused": summary.refused.iter().map(|(at, reason)| serde_json::json!({"at": at, "reason": reason})).collect::<Vec<_>>(),
            "interrupted": interrupted,
            "seconds": seconds,
        }))
        .unwrap_or_default(),
        Format::Text => {
            let mut text = format!(
                "created {}, already shortened {}, refused {} ({total} records in {seconds:.1} s)",
                summary.created,
                summary.existing,
                summary.refused.len()
            );
            for (at, reason) in &summary.refused {
                text.push_str(&format!("\n  {at}: {reason}"));
            }
            if interrupted {
                text.push_str(&format!("\ninterrupted: {} records were not read; import the file again to finish (records already imported are found, not doubled)", total - summary.total()));
            }
            text
        }
    };
    if summary.refused.is_empty() && !interrupted { Ok(text) } else { Err(text) }
}
