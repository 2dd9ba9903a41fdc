//! Metadata for a new link, fetched from its target page when the client sent none. Runs before the link is
//! stored, never inside a database transaction.

use poem_openapi::payload::Json;

use super::error::ApiError;
use crate::http::problem::Problem;
use crate::links::LinkMeta;
use crate::state::AppState;

/// The target's metadata, or empty metadata when scraping is off or fails (unless `require_reachable`).
pub async fn meta_for(state: &AppState, url: &str) -> Result<LinkMeta, ApiError> {
    let Some(scraper) = &state.scraper else { return Ok(LinkMeta::default()) };
    // An unusable URL is refused by link creation with a proper message; nothing to fetch here.
    let Ok(target) = state.links.target_rules().check(url) else { return Ok(LinkMeta::default()) };
    match scraper.scrape(&target.url).await {
        Ok(page) => Ok(LinkMeta {
            author: page.author,
            date: page.date,
            description: page.description,
            lang: page.lang,
            logo: page.logo,
            publisher: page.publisher,
            title: page.title,
            ..LinkMeta::default()
        }),
        Err(error) if state.config.links.require_reachable => {
            let problem = |status| {
                Json(Problem::invalid_field(status, "originalUrl", format!("the page could not be fetched: {error}")))
            };
            Err(if error.is_timeout() {
                ApiError::GatewayTimeout(problem(poem::http::StatusCode::GATEWAY_TIMEOUT))
            } else {
                ApiError::NotFound(problem(poem::http::StatusCode::NOT_FOUND))
            })
        }
        Err(error) => {
            tracing::info!(%error, url = %target.key, "metadata not fetched; the link is created without it");
            Ok(LinkMeta::default())
        }
    }
}
