//! The link page's click figures: a bar chart drawn on the server as SVG (no chart library in the browser), the
//! totals and the top tables, and the series as a CSV download.

use minijinja::context;
use minijinja::value::{Serde, Value};
use poem::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use poem::web::Path;
use poem::{Response, handler};
use serde::Serialize;

use super::frame::{Ui, UiError};
use crate::analytics::{Dimension, Granularity, LinkStats, StatsQuery};

/// The chart's drawing area, in SVG user units (it scales to the card's width).
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
/// Room under the bars for the first and last dates.
const AXIS: f64 = 18.0;

/// One day's bar: people's clicks at the bottom, previews and bots stacked above.
#[derive(Serialize)]
struct Bar {
    x: f64,
    width: f64,
    clicks_y: f64,
    clicks_height: f64,
    automated_y: f64,
    automated_height: f64,
    /// What the bar's tooltip says.
    title: String,
}

#[derive(Serialize)]
struct Chart {
    width: f64,
    height: f64,
    baseline: f64,
    bars: Vec<Bar>,
    first_day: String,
    last_day: String,
    /// The tallest bar's value, shown as the scale.
    peak: i64,
}

#[derive(Serialize)]
struct TopTable {
    title: &'static str,
    rows: Vec<(String, i64)>,
}

fn title(dimension: Dimension) -> &'static str {
    match dimension {
        Dimension::Referrer => "Referrers",
        Dimension::Country => "Countries",
        Dimension::Browser => "Browsers",
        Dimension::Os => "Operating systems",
        Dimension::Device => "Devices",
    }
}

/// The last 30 days per day, as the link page shows them.
fn last_30_days() -> StatsQuery {
    StatsQuery { from: None, to: None, granularity: Granularity::Day }
}

fn chart(stats: &LinkStats) -> Chart {
    let day = |seconds| chrono::DateTime::from_timestamp(seconds, 0).unwrap_or_default().format("%b %-d").to_string();
    let peak = stats.series.iter().map(|p| p.counts.clicks + p.counts.previews + p.counts.bots).max().unwrap_or(0);
    let scale = if peak == 0 { 0.0 } else { (HEIGHT - AXIS - 4.0) / peak as f64 };
    let baseline = HEIGHT - AXIS;
    let slot = WIDTH / stats.series.len().max(1) as f64;
    let bars = stats
        .series
        .iter()
        .enumerate()
        .map(|(index, point)| {
            let c = point.counts;
            let clicks_height = c.clicks as f64 * scale;
            let automated_height = (c.previews + c.bots) as f64 * scale;
            Bar {
                x: index as f64 * slot + slot * 0.15,
                width: slot * 0.7,
                clicks_y: baseline - clicks_height,
                clicks_height,
                automated_y: baseline - clicks_height - automated_height,
                automated_height,
                title: format!(
                    "{}: {} clicks, {} visitors, {} previews, {} bots",
                    day(point.start),
                    c.clicks,
                    point.visitors,
                    c.previews,
                    c.bots
                ),
            }
        })
        .collect();
    Chart {
        width: WIDTH,
        height: HEIGHT,
        baseline,
        bars,
        first_day: stats.series.first().map(|p| day(p.start)).unwrap_or_default(),
        last_day: stats.series.last().map(|p| day(p.start)).unwrap_or_default(),
        peak,
    }
}

/// What the link page's Clicks card shows for the link with database key `link`: the figures, or why there are
/// none (analytics off, or the database unavailable, which must not take the whole page down).
pub async fn card(ui: &Ui, link: i64) -> Value {
    if !ui.state.config.analytics.enabled {
        return context! { state => "off" };
    }
    match ui.state.analytics.link_stats(link, last_30_days()).await {
        Ok(stats) => {
            let tops: Vec<TopTable> = stats
                .tops
                .iter()
                .filter(|top| !top.entries.is_empty())
                .map(|top| TopTable { title: title(top.dimension), rows: top.entries.clone() })
                .collect();
            context! {
                state => "ok",
                totals => context! {
                    clicks => stats.totals.counts.clicks,
                    visitors => stats.totals.visitors,
                    previews => stats.totals.counts.previews,
                    bots => stats.totals.counts.bots,
                },
                chart => Serde(chart(&stats)),
                tops => Serde(tops),
            }
        }
        Err(error) => {
            tracing::error!(%error, link, "cannot read click figures for the link page");
            context! { state => "unavailable" }
        }
    }
}

/// `GET /app/links/{slug}/clicks.csv`: the last 30 days' figures per day.
#[handler]
pub async fn csv(ui: Ui, Path(slug): Path<String>) -> poem::Result<Response> {
    let link = ui.state.links.find(&ui.caller, &slug).await.map_err(UiError::from)?;
    let stats = ui
        .state
        .analytics
        .link_stats(link.id, last_30_days())
        .await
        .map_err(|error| UiError::Internal(error.to_string()))?;
    Ok(Response::builder()
        .header(CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(CONTENT_DISPOSITION, format!("attachment; filename=\"clicks-{}.csv\"", link.slug))
        .body(stats.to_csv()))
}
