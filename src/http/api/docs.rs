//! `/api/docs`: Swagger UI on the OpenAPI document, as a page of Blink's own that loads every script and
//! stylesheet from `/static`, so it works under the same strict Content-Security-Policy as every other page.

use std::sync::LazyLock;

use poem::http::header::CONTENT_SECURITY_POLICY;
use poem::{Response, handler};

use crate::http::assets;
use crate::http::middleware::DOCUMENT_CSP;

/// Swagger UI's stylesheet draws its icons as `data:` SVG images; that is all this page adds to the policy.
static POLICY: LazyLock<String> = LazyLock::new(|| format!("{DOCUMENT_CSP}; img-src 'self' data:"));

static PAGE: LazyLock<String> = LazyLock::new(|| {
    let [css, bundle, start] = [assets::SWAGGER_UI_CSS, assets::SWAGGER_UI_JS, assets::API_DOCS_JS]
        .map(|name| assets::url(name).unwrap_or(""));
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Blink API</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<link rel=\"stylesheet\" href=\"{css}\"><script src=\"{bundle}\" defer></script><script src=\"{start}\" defer></script>\
</head><body><noscript><p>The interactive documentation needs JavaScript; the OpenAPI document is at \
<a href=\"{SPEC}\">{SPEC}</a>.</p></noscript><div id=\"ui\" data-spec-url=\"{SPEC}\"></div></body></html>"
    )
});

/// Where the API serves its OpenAPI document.
const SPEC: &str = "/api/openapi.json";

/// `GET /api/docs`.
#[handler]
pub fn page() -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(CONTENT_SECURITY_POLICY, POLICY.as_str())
        .body(PAGE.as_str())
}
