//! Static files under `/static/`, embedded in the binary: Blink's own stylesheet and scripts (from `assets/`) and
//! Swagger UI. Each is served under a name carrying a hash of its content (`blink.0123456789abcdef.css`), so
//! browsers may keep it forever and a release that changes it is fetched afresh. Pages (and templates) ask
//! [`url`] for an asset's current address.

use std::sync::LazyLock;

use base64::Engine as _;
use poem::http::StatusCode;
use poem::http::header::CACHE_CONTROL;
use poem::web::Path;
use poem::{IntoResponse, Response, handler};
use sha2::{Digest, Sha256};

use crate::http::problem::Problem;

/// A hashed name never changes content, so it may be cached for a year without asking again.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Hex digits of the SHA-256 kept in a name: 64 bits, plenty to tell releases of one file apart.
const HASH_CHARS: usize = 16;

/// Files from the repository's `assets/` directory, by name.
const OWN_FILES: &[(&str, &str)] = &[
    ("blink.css", include_str!("../../assets/blink.css")),
    ("api-docs.js", include_str!("../../assets/api-docs.js")),
    ("app.css", include_str!("../../assets/app.css")),
    ("app.js", include_str!("../../assets/app.js")),
];

/// The stylesheet of Blink's own pages.
pub const STYLESHEET: &str = "blink.css";
/// The admin UI's stylesheet.
pub const UI_STYLESHEET: &str = "app.css";
/// The admin UI's script: the copy buttons, nothing a page needs to work.
pub const UI_SCRIPT: &str = "app.js";
/// Swagger UI's script (from poem-openapi).
pub const SWAGGER_UI_JS: &str = "swagger-ui-bundle.js";
/// Swagger UI's stylesheet (from poem-openapi).
pub const SWAGGER_UI_CSS: &str = "swagger-ui.css";
/// The script that starts Swagger UI on `/api/docs`.
pub const API_DOCS_JS: &str = "api-docs.js";

/// One embedded file.
struct Asset {
    /// The name pages ask for, e.g. `blink.css`.
    name: &'static str,
    /// The name it is served under, e.g. `blink.0123456789abcdef.css`.
    file: String,
    /// `/static/` + `file`.
    url: String,
    content_type: &'static str,
    /// Subresource integrity: `sha256-` and the base64 digest.
    integrity: String,
    body: Body,
}

/// Where an asset's content comes from.
enum Body {
    /// A file compiled in.
    Own(&'static str),
    /// The Swagger UI file in the first `<tag>` of poem-openapi's page. It is cut out again for each request
    /// rather than held: 1.6 MB that few processes ever serve, and browsers keep it for a year.
    SwaggerUi { tag: &'static str },
}

/// Blink's own files, hashed at startup ([`prepare`]).
static OWN_ASSETS: LazyLock<Vec<Asset>> =
    LazyLock::new(|| OWN_FILES.iter().map(|&(name, text)| Asset::new(name, text, Body::Own(text))).collect());

/// Swagger UI's files, hashed when first asked for rather than at startup: reading their 1.6 MB keeps those pages
/// of the binary resident, in every process, whether it ever serves `/api/docs` or not.
static SWAGGER_UI_ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [(SWAGGER_UI_CSS, "style"), (SWAGGER_UI_JS, "script")]
        .into_iter()
        .filter_map(|(name, tag)| Some(Asset::new(name, &swagger_ui_file(tag)?, Body::SwaggerUi { tag })))
        .collect()
});

/// The asset that `matches`: Blink's own first, so that only a look for something else hashes Swagger UI's.
fn find(matches: impl Fn(&Asset) -> bool) -> Option<&'static Asset> {
    OWN_ASSETS.iter().find(|asset| matches(asset)).or_else(|| SWAGGER_UI_ASSETS.iter().find(|asset| matches(asset)))
}

impl Asset {
    fn new(name: &'static str, text: &str, body: Body) -> Self {
        let digest = Sha256::digest(text.as_bytes());
        let integrity = format!("sha256-{}", base64::engine::general_purpose::STANDARD.encode(digest));
        let mut hash = format!("{digest:x}");
        hash.truncate(HASH_CHARS);
        let file = match name.rsplit_once('.') {
            Some((stem, extension)) => format!("{stem}.{hash}.{extension}"),
            None => format!("{name}.{hash}"),
        };
        Self { name, url: format!("/static/{file}"), file, content_type: content_type(name), integrity, body }
    }
}

/// The current address of the asset `name` (e.g. `blink.css` gives `/static/blink.0123456789abcdef.css`), or
/// `None` when there is no such asset.
pub fn url(name: &str) -> Option<&'static str> {
    find(|asset| asset.name == name).map(|asset| asset.url.as_str())
}

/// The subresource integrity of the asset `name` (`sha256-…`), for `<script integrity>`.
pub fn integrity(name: &str) -> Option<&'static str> {
    find(|asset| asset.name == name).map(|asset| asset.integrity.as_str())
}

/// Hashes Blink's own assets now, so the first page view does not pay for it.
pub fn prepare() {
    LazyLock::force(&OWN_ASSETS);
}

/// `GET /static/{file}`: an asset by its hashed name; 404 for any other name, old hashes included.
#[handler]
pub fn serve(Path(file): Path<String>) -> Response {
    let found = find(|asset| asset.file == file);
    let text = found.and_then(|asset| match asset.body {
        Body::Own(text) => Some(poem::Body::from(text)),
        Body::SwaggerUi { tag } => swagger_ui_file(tag).map(poem::Body::from_string),
    });
    match (found, text) {
        (Some(asset), Some(text)) => {
            Response::builder().content_type(asset.content_type).header(CACHE_CONTROL, IMMUTABLE).body(text)
        }
        _ => Problem::new(StatusCode::NOT_FOUND, "No static file has this name.").into_response(),
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// Swagger UI's stylesheet and script, taken from the one page poem-openapi's public API renders (it inlines
/// both; its file constants are private). That avoids a second copy of 1.5 MB in this repository, and the
/// version is poem-openapi's, pinned by `Cargo.lock`. The page puts the stylesheet in its first `<style>` and the
/// bundle in its first `<script>`; neither file contains a closing tag, or the page itself would break. A test
/// checks both are found, so a poem-openapi release that renders the page differently fails the build's tests,
/// not a deployment.
fn swagger_ui_file(tag: &str) -> Option<String> {
    let page = poem_openapi::OpenApiService::new((), "", "").swagger_ui_html();
    element_text(&page, tag).map(str::to_owned)
}

/// The text of the first `<tag …>…</tag>` in `html`.
fn element_text<'a>(html: &'a str, tag: &str) -> Option<&'a str> {
    let start = html.find(&format!("<{tag}"))?;
    let text_start = start + html[start..].find('>')? + 1;
    let text_len = html[text_start..].find(&format!("</{tag}>"))?;
    Some(html[text_start..text_start + text_len].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_hashed_url() {
        for name in [STYLESHEET, SWAGGER_UI_JS, SWAGGER_UI_CSS, API_DOCS_JS, UI_STYLESHEET, UI_SCRIPT] {
            let url = url(name).unwrap_or_else(|| panic!("{name} is missing"));
            let (stem, extension) = name.rsplit_once('.').expect("an extension");
            let hash = url
                .strip_prefix(&format!("/static/{stem}."))
                .and_then(|rest| rest.strip_suffix(&format!(".{extension}")))
                .unwrap_or_else(|| panic!("{url} is not /static/{stem}.HASH.{extension}"));
            assert!(hash.len() == HASH_CHARS && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{url}");
        }
        assert_eq!(url("nonexistent.css"), None);
    }

    #[test]
    fn swagger_ui_is_found_in_poem_openapis_page() {
        let css = swagger_ui_file("style").expect("a <style> element");
        let js = swagger_ui_file("script").expect("a <script> element");
        assert!(css.contains(".swagger-ui") && css.len() > 10_000, "{}", &css[..css.len().min(200)]);
        assert!(js.contains("SwaggerUIBundle") && js.len() > 500_000, "{}", &js[..js.len().min(200)]);
        // Cut out again per request, the files must match the integrity the pages announce.
        let cut_again = Asset::new(SWAGGER_UI_JS, &js, Body::SwaggerUi { tag: "script" });
        assert_eq!(integrity(SWAGGER_UI_JS), Some(cut_again.integrity.as_str()));
    }

    #[test]
    fn a_change_of_content_changes_the_name() {
        let asset = |text: &'static str| Asset::new("a.css", text, Body::Own(text));
        assert_ne!(asset("a{}").file, asset("b{}").file);
        assert_eq!(asset("a{}").file, asset("a{}").file);
    }

    #[test]
    fn element_text_takes_the_first_element() {
        assert_eq!(element_text("<p><style a=\"b\">x{}</style><style>y</style>", "style"), Some("x{}"));
        assert_eq!(element_text("<style>unclosed", "style"), None);
    }
}
