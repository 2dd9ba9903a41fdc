//! `/app/bulk`: shorten many URLs at once, pasted one a line or uploaded as CSV (`url[,slug]`, header optional).
//! Each line goes through the link service like a single shortening; the result lists every line and can be
//! downloaded as CSV.

use minijinja::context;
use minijinja::value::Serde;
use poem::http::StatusCode;
use poem::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use poem::web::Multipart;
use poem::{Response, handler};
use serde::Serialize;

use super::frame::{Posted, Ui, UiError, sentence};
use crate::links::{Created, NewLink};

/// Most lines one submission may hold: each may fetch a page, so a bigger batch belongs to the API.
const MAX_LINES: usize = 500;

/// One line's outcome.
#[derive(Clone, Debug, Serialize)]
struct Outcome {
    line: usize,
    url: String,
    slug: String,
    /// `created`, `existing` or `refused`.
    result: &'static str,
    short_url: String,
    reason: String,
}

/// `GET /app/bulk`.
#[handler]
pub fn page(ui: Ui) -> Response {
    ui.render("bulk.html", "bulk", context! { urls => "", error => () })
}

/// The lines of a CSV upload: `url[,slug]`, a first line `url,…` taken as a header.
fn csv_lines(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut lines = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|error| format!("The CSV file cannot be read: {error}."))?;
        let url = record.get(0).unwrap_or_default();
        if index == 0 && url.eq_ignore_ascii_case("url") {
            continue;
        }
        let slug = record.get(1).filter(|slug| !slug.is_empty()).map(str::to_owned);
        if !url.is_empty() || slug.is_some() {
            lines.push((url.to_owned(), slug));
        }
    }
    Ok(lines)
}

/// `POST /app/bulk` (multipart: `csrf`, `urls` and/or a `csv` file).
#[handler]
pub async fn shorten(ui: Ui, mut multipart: Multipart) -> poem::Result<Response> {
    let (mut csrf, mut urls, mut upload) = (None, String::new(), String::new());
    while let Some(field) = multipart.next_field().await? {
        match field.name() {
            Some("csrf") => csrf = Some(field.text().await?),
            Some("urls") => urls = field.text().await?,
            Some("csv") => {
                let bytes = field.bytes().await?;
                upload = String::from_utf8(bytes)
                    .map_err(|_| UiError::BadRequest("The CSV file must be UTF-8 text.".into()))?;
            }
            _ => {}
        }
    }
    ui.check_csrf(csrf.as_deref())?;
    let mut lines: Vec<(String, Option<String>)> =
        urls.lines().map(str::trim).filter(|line| !line.is_empty()).map(|line| (line.to_owned(), None)).collect();
    let refuse = |error: String| {
        ui.render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bulk.html",
            "bulk",
            context! { urls => urls, error => error },
        )
    };
    match csv_lines(&upload) {
        Ok(more) => lines.extend(more),
        Err(error) => return Ok(refuse(error)),
    }
    if lines.is_empty() {
        return Ok(refuse("Paste at least one URL or choose a CSV file.".into()));
    }
    if lines.len() > MAX_LINES {
        return Ok(refuse(format!("At most {MAX_LINES} lines at once, please; this had {}.", lines.len())));
    }
    let mut outcomes = Vec::with_capacity(lines.len());
    for (index, (url, slug)) in lines.into_iter().enumerate() {
        let request = NewLink { url: url.clone(), brand: slug.clone(), ..NewLink::default() };
        let mut outcome = Outcome {
            line: index + 1,
            url,
            slug: slug.unwrap_or_default(),
            result: "refused",
            short_url: String::new(),
            reason: String::new(),
        };
        match ui.state.links.create(&ui.caller, request).await {
            Ok((link, created)) => {
                outcome.result = if created == Created::New { "created" } else { "existing" };
                outcome.short_url = ui.state.links.short_url(link.brand.as_deref().unwrap_or(&link.slug));
            }
            Err(error) => outcome.reason = sentence(&UiError::from(error).to_string()),
        }
        outcomes.push(outcome);
    }
    let count = |result: &str| outcomes.iter().filter(|outcome| outcome.result == result).count();
    let csv = to_csv(&outcomes);
    Ok(ui.render(
        "bulk_result.html",
        "bulk",
        context! {
            outcomes => Serde(&outcomes),
            created => count("created"),
            existing => count("existing"),
            refused => count("refused"),
            csv => csv,
        },
    ))
}

fn to_csv(outcomes: &[Outcome]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(["line", "url", "slug", "result", "short_url", "reason"]);
    for outcome in outcomes {
        let line = outcome.line.to_string();
        let _ = writer.write_record([
            line.as_str(),
            &outcome.url,
            &outcome.slug,
            outcome.result,
            &outcome.short_url,
            &outcome.reason,
        ]);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// `POST /app/bulk/results.csv` (`csv`): the result page's table as a CSV download. The page carries it in a
/// hidden field, so nothing is kept on the server; it is parsed and written again, so only CSV comes back.
#[handler]
pub fn results_csv(_ui: Ui, form: Posted) -> poem::Result<Response> {
    let text = form.get("csv").unwrap_or_default();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in reader.records() {
        let record = record.map_err(|_| UiError::BadRequest("These results are not CSV.".into()))?;
        writer.write_record(&record).map_err(|error| UiError::Internal(error.to_string()))?;
    }
    let body = writer.into_inner().map_err(|error| UiError::Internal(error.to_string()))?;
    Ok(Response::builder()
        .content_type("text/csv; charset=utf-8")
        .header(CONTENT_DISPOSITION, "attachment; filename=\"blink-bulk-results.csv\"")
        .header(CACHE_CONTROL, "no-store")
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::csv_lines;

    #[test]
    fn csv_uploads_take_url_and_optional_slug_with_an_optional_header() {
        let lines = csv_lines("url,slug\nhttps://a.example,a1\n\"https://b.example/?x=1,2\"\n\n").unwrap();
        assert_eq!(
            lines,
            vec![("https://a.example".into(), Some("a1".into())), ("https://b.example/?x=1,2".into(), None)]
        );
        assert_eq!(csv_lines("https://c.example").unwrap().len(), 1);
    }
}
