//! The redirect path: `GET /{slug}`. Kept lean on purpose: a cache hit is a hash lookup and a response with two
//! ready-made headers; no JSON, no templates, no logging beyond the access-log line.

use poem::http::header::{CACHE_CONTROL, LOCATION};
use poem::http::{HeaderValue, StatusCode};
use poem::web::Data;
use poem::{Request, Response, handler};

use crate::http::pages;
use crate::state::AppState;

/// Redirects to the target of the slug in the path, or answers the not-found page.
#[handler]
pub async fn redirect(req: &Request, Data(state): Data<&AppState>) -> Response {
    let slug = req.raw_path_param("slug").unwrap_or_default();
    let load = state.links.resolve(slug);
    match state.redirects.get_or_load(slug, load).await {
        Ok(Some(found)) => Response::builder()
            .status(found.status)
            .header(LOCATION, found.location.clone())
            .header(CACHE_CONTROL, found.cache_control.clone())
            .finish(),
        Ok(None) => pages::not_found(req, &state.not_found_cache_control),
        Err(error) => {
            tracing::error!(%error, slug, "cannot resolve slug");
            pages::unavailable(req)
        }
    }
}

/// `Cache-Control` for unknown slugs, from `cache.not_found_max_age`.
pub fn not_found_cache_control(max_age_secs: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("public, max-age={max_age_secs}")).unwrap_or(HeaderValue::from_static("no-cache"))
}

/// Status for `GET /` when `HOMEPAGE` is set: a temporary redirect, so changing it takes effect.
pub const HOME_STATUS: StatusCode = StatusCode::FOUND;
