//! `/api/links/{id}/stats`: a link's click figures, as JSON or CSV.

use chrono::{DateTime, NaiveDate, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::error::ApiError;
use crate::analytics::{Granularity, LinkStats, StatsError, StatsQuery};
use crate::auth::Caller;
use crate::state::AppState;

/// How finely the series is cut.
#[derive(Clone, Copy, Debug, Default, Enum)]
#[oai(rename_all = "lowercase")]
pub enum GranularityParam {
    /// Per UTC hour; hourly figures are kept for 48 hours.
    Hour,
    /// Per UTC day.
    #[default]
    Day,
}

/// One period of the series.
#[derive(Debug, Object)]
pub struct PointBody {
    /// Start of the period (RFC 3339, UTC).
    pub start: String,
    /// Visits by people.
    pub clicks: i64,
    /// Link-preview fetches (Slack, Discord, WhatsApp, …).
    pub previews: i64,
    /// Other automated visits (crawlers, scripts).
    pub bots: i64,
    /// Unique visitors that day (0 in hourly series: they are counted per day).
    pub visitors: i64,
}

/// One value of a top table.
#[derive(Debug, Object)]
pub struct TopEntryBody {
    pub value: String,
    /// People's clicks.
    pub clicks: i64,
}

/// Sums over the period.
#[derive(Debug, Object)]
pub struct TotalsBody {
    pub clicks: i64,
    pub previews: i64,
    pub bots: i64,
    /// The sum of each day's unique visitors.
    pub visitors: i64,
}

/// Top tables over the days of the period, people's clicks only, at most 10 values each.
#[derive(Debug, Object)]
pub struct TopsBody {
    /// Referring hosts.
    pub referrer: Vec<TopEntryBody>,
    /// Countries, from the configured CDN header.
    pub country: Vec<TopEntryBody>,
    pub browser: Vec<TopEntryBody>,
    pub os: Vec<TopEntryBody>,
    /// desktop, phone, tablet or other.
    pub device: Vec<TopEntryBody>,
}

/// A link's click figures over a period.
#[derive(Debug, Object)]
pub struct StatsBody {
    /// Start of the first period (RFC 3339).
    pub from: String,
    /// End of the last period, exclusive (RFC 3339).
    pub to: String,
    pub granularity: GranularityParam,
    pub totals: TotalsBody,
    /// Every period, those without visits as zeros.
    pub series: Vec<PointBody>,
    pub tops: TopsBody,
}

// Built once per request; boxing the figures would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(ApiResponse)]
enum StatsResponse {
    /// The figures.
    #[oai(status = 200)]
    Json(Json<StatsBody>),
    /// The series as CSV (`Accept: text/csv`): start, clicks, previews, bots, visitors.
    #[oai(status = 200, content_type = "text/csv")]
    Csv(PlainText<String>),
}

/// The click-figures operation.
pub struct StatsApi;

#[OpenApi(prefix_path = "/links", tag = "super::Tag::Links")]
impl StatsApi {
    /// A link's click figures: clicks, link previews and bots per hour or day, unique visitors per day, and the top
    /// referrers, countries, browsers, operating systems and devices. Whoever may read the link may read them.
    #[oai(path = "/:id/stats", method = "get")]
    #[allow(clippy::too_many_arguments)] // poem-openapi takes each parameter as an argument
    async fn stats(
        &self,
        Data(state): Data<&AppState>,
        Data(caller): Data<&Caller>,
        id: Path<String>,
        /// Start: RFC 3339 or a date (`2026-01-31`); default 30 days (hour: 48 hours) before `to`.
        from: Query<Option<String>>,
        /// End, exclusive: RFC 3339 or a date; default now.
        to: Query<Option<String>>,
        /// `day` (default) or `hour`.
        granularity: Query<Option<GranularityParam>>,
        /// `text/csv` for the series as CSV; JSON otherwise.
        #[oai(name = "Accept")]
        accept: Header<Option<String>>,
    ) -> Result<StatsResponse, ApiError> {
        super::refuse_bad_credentials(caller)?;
        let link = state.links.find(caller, &id.0).await?;
        let granularity_param = granularity.0.unwrap_or_default();
        let query = StatsQuery {
            from: from.0.as_deref().map(|text| moment("from", text)).transpose()?,
            to: to.0.as_deref().map(|text| moment("to", text)).transpose()?,
            granularity: match granularity_param {
                GranularityParam::Hour => Granularity::Hour,
                GranularityParam::Day => Granularity::Day,
            },
        };
        let stats = state.analytics.link_stats(link.id, query).await.map_err(|error| match error {
            StatsError::BadRange(message) => ApiError::bad_field("from", message),
            StatsError::Storage(error) => error.into(),
        })?;
        if accept.0.as_deref().is_some_and(|accept| accept.contains("text/csv")) {
            return Ok(StatsResponse::Csv(PlainText(stats.to_csv())));
        }
        Ok(StatsResponse::Json(Json(body(stats, granularity_param))))
    }
}

/// An RFC 3339 moment, or a date meaning its UTC midnight.
fn moment(field: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
        .ok_or_else(|| {
            ApiError::bad_field(field, format!("`{text}` is neither an RFC 3339 time nor a date (YYYY-MM-DD)"))
        })
}

fn rfc3339(seconds: i64) -> String {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default().to_rfc3339()
}

fn body(stats: LinkStats, granularity: GranularityParam) -> StatsBody {
    let mut tops = TopsBody { referrer: vec![], country: vec![], browser: vec![], os: vec![], device: vec![] };
    for top in stats.tops {
        let entries = top.entries.into_iter().map(|(value, clicks)| TopEntryBody { value, clicks }).collect();
        match top.dimension {
            crate::analytics::Dimension::Referrer => tops.referrer = entries,
            crate::analytics::Dimension::Country => tops.country = entries,
            crate::analytics::Dimension::Browser => tops.browser = entries,
            crate::analytics::Dimension::Os => tops.os = entries,
            crate::analytics::Dimension::Device => tops.device = entries,
        }
    }
    StatsBody {
        from: stats.from.to_rfc3339(),
        to: stats.to.to_rfc3339(),
        granularity,
        totals: TotalsBody {
            clicks: stats.totals.counts.clicks,
            previews: stats.totals.counts.previews,
            bots: stats.totals.counts.bots,
            visitors: stats.totals.visitors,
        },
        series: stats
            .series
            .into_iter()
            .map(|point| PointBody {
                start: rfc3339(point.start),
                clicks: point.counts.clicks,
                previews: point.counts.previews,
                bots: point.counts.bots,
                visitors: point.visitors,
            })
            .collect(),
        tops,
    }
}
