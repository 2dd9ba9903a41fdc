//! What every page shares: the templates, the signed-in caller, CSRF-checked forms, flash messages, the theme,
//! and error pages in the UI's look.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use minijinja::{Environment, Value, context};
use poem::http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use poem::http::{HeaderMap, HeaderValue, StatusCode};
use poem::web::Data;
use poem::{Endpoint, FromRequest, IntoResponse, Request, RequestBody, Response, handler};

use crate::auth::sessions::same_secret;
use crate::auth::{AuthError, Caller, Credential, Identity, TokenError};
use crate::http::assets;
use crate::links::LinkError;
use crate::state::AppState;
use crate::storage::StorageError;
use crate::users::{User, UserError};

/// Every template, embedded; `.html` ones autoescape (minijinja's default).
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../../templates/layout.html")),
    ("macros.html", include_str!("../../../templates/macros.html")),
    ("error.html", include_str!("../../../templates/error.html")),
    ("sign_in.html", include_str!("../../../templates/sign_in.html")),
    ("links.html", include_str!("../../../templates/links.html")),
    ("shorten.html", include_str!("../../../templates/shorten.html")),
    ("link.html", include_str!("../../../templates/link.html")),
    ("link_edit.html", include_str!("../../../templates/link_edit.html")),
    ("link_delete.html", include_str!("../../../templates/link_delete.html")),
    ("bulk.html", include_str!("../../../templates/bulk.html")),
    ("bulk_result.html", include_str!("../../../templates/bulk_result.html")),
    ("users.html", include_str!("../../../templates/users.html")),
    ("user.html", include_str!("../../../templates/user.html")),
    ("tokens.html", include_str!("../../../templates/tokens.html")),
    ("token_created.html", include_str!("../../../templates/token_created.html")),
];

/// Built once: templates are parsed at first use, and a broken one fails the tests (`every_template_parses`).
static TEMPLATE_ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_formatter(html_formatter);
    for (name, source) in TEMPLATES {
        if let Err(error) = env.add_template(name, source) {
            tracing::error!(template = name, %error, "admin UI template does not parse");
        }
    }
    env
});

/// minijinja's formatter, but escaping only what HTML needs (`& < > " '`): its default also escapes `/`, which
/// turns every URL in a page into `&#x2f;` soup (correct, but unreadable for people and tests alike).
fn html_formatter(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(text) if matches!(state.auto_escape(), minijinja::AutoEscape::Html) && !value.is_safe() => {
            let mut escaped = String::with_capacity(text.len());
            for c in text.chars() {
                match c {
                    '&' => escaped.push_str("&amp;"),
                    '<' => escaped.push_str("&lt;"),
                    '>' => escaped.push_str("&gt;"),
                    '"' => escaped.push_str("&quot;"),
                    '\'' => escaped.push_str("&#39;"),
                    c => escaped.push(c),
                }
            }
            out.write_str(&escaped).map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write"))
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// The cookie carrying a message to the next page.
const FLASH_COOKIE: &str = "blink_flash";
/// The cookie carrying the chosen theme.
const THEME_COOKIE: &str = "theme";

/// Renders `template` with `ctx`, as `status`; a template error is logged and becomes a plain 500 page.
fn render(status: StatusCode, template: &str, ctx: Value) -> Response {
    let rendered = TEMPLATE_ENV.get_template(template).and_then(|template| template.render(ctx));
    match rendered {
        Ok(html) => Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .header(CACHE_CONTROL, "no-store")
            .body(html),
        Err(error) => {
            tracing::error!(template, error = format!("{error:#}"), "admin UI template failed");
            Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .content_type("text/plain; charset=utf-8")
                .body("Something went wrong on our side.")
        }
    }
}

/// What the layout needs on every page.
fn base(theme: Theme, me: Option<&User>, csrf: Option<&str>, flash: Option<&Flash>, nav: &str) -> Value {
    context! {
        theme => theme.as_str(),
        stylesheet => assets::url(assets::UI_STYLESHEET).unwrap_or_default(),
        script => assets::url(assets::UI_SCRIPT).unwrap_or_default(),
        script_integrity => assets::integrity(assets::UI_SCRIPT).unwrap_or_default(),
        me => me.map(|me| context! {
            id => me.id.clone(),
            name => me.name.clone().unwrap_or_else(|| me.id.clone()),
            superuser => me.role == crate::auth::Role::Superuser,
        }),
        csrf => csrf,
        flash => flash.map(|flash| context! { kind => flash.kind.as_str(), text => flash.text.clone() }),
        nav => nav,
    }
}

/// The light/dark choice: `auto` follows the system.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Theme {
    #[default]
    Auto,
    Light,
    Dark,
}

impl Theme {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "auto" => Some(Self::Auto),
            "light" => Some(Self::Light),
            "dark" => Some(Self::Dark),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Light => "light",
            Self::Dark => "dark",
        }
    }

    /// The theme the request's cookie names.
    pub fn of(headers: &HeaderMap) -> Self {
        cookie(headers, THEME_COOKIE).and_then(Self::parse).unwrap_or_default()
    }
}

/// The value of cookie `name` in `headers`.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// A message shown once, on the next page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flash {
    pub kind: FlashKind,
    pub text: String,
}

/// Whether a flash message reports success or a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
}

impl FlashKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
        }
    }
}

impl Flash {
    /// A success message.
    pub fn success(text: impl Into<String>) -> Self {
        Self { kind: FlashKind::Success, text: text.into() }
    }

    /// A problem message.
    pub fn error(text: impl Into<String>) -> Self {
        Self { kind: FlashKind::Error, text: text.into() }
    }

    /// The cookie value: base64url, since a cookie may hold neither spaces nor semicolons.
    fn encode(&self) -> String {
        let kind = match self.kind {
            FlashKind::Success => 's',
            FlashKind::Error => 'e',
        };
        URL_SAFE_NO_PAD.encode(format!("{kind}{}", self.text))
    }

    fn decode(value: &str) -> Option<Self> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(value).ok()?).ok()?;
        let mut chars = text.chars();
        let kind = match chars.next()? {
            's' => FlashKind::Success,
            'e' => FlashKind::Error,
            _ => return None,
        };
        // Shown as text (autoescaped); capped so a forged cookie cannot make a page huge.
        Some(Self { kind, text: chars.take(500).collect() })
    }
}

/// A 303 to `location` (a path of Blink's own).
pub fn see_other(location: &str) -> Response {
    let location = HeaderValue::from_str(location).unwrap_or_else(|_| HeaderValue::from_static("/app"));
    Response::builder().status(StatusCode::SEE_OTHER).header(LOCATION, location).finish()
}

/// A 303 to `location` that shows `flash` there.
pub fn see_other_with(location: &str, flash: &Flash) -> Response {
    let mut response = see_other(location);
    let cookie = format!("{FLASH_COOKIE}={}; Path=/app; Max-Age=60; HttpOnly; SameSite=Lax", flash.encode());
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// Whether `path` is a path on this site (not `//host` or `/\host`, which browsers take for other sites).
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\") && !path.contains(['\r', '\n'])
}

/// The signed-in person behind an admin UI request. Extracting it sends anonymous callers (and expired sessions)
/// to the sign-in page, with the page they asked for as `next`.
pub struct Ui {
    pub state: AppState,
    pub caller: Caller,
    /// The caller's own user.
    pub me: User,
    csrf: String,
    theme: Theme,
    flash: Option<Flash>,
}

impl<'a> FromRequest<'a> for Ui {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let state = req.data::<AppState>().cloned().ok_or(UiError::Internal("no application state".into()))?;
        let caller = req.extensions().get::<Caller>().cloned().unwrap_or(Caller::Anonymous);
        let identity = signed_in(&caller, req)?;
        let csrf = identity.csrf_token.clone().unwrap_or_default();
        let me = state.users.me(&caller).await.map_err(UiError::from)?;
        let flash = cookie(req.headers(), FLASH_COOKIE).and_then(Flash::decode);
        Ok(Self { state, caller, me, csrf, theme: Theme::of(req.headers()), flash })
    }
}

/// The caller's session identity, or the error that sends them to sign in.
fn signed_in<'c>(caller: &'c Caller, req: &Request) -> Result<&'c Identity, UiError> {
    match caller {
        Caller::Authenticated(identity) if identity.via == Credential::Session && identity.csrf_token.is_some() => {
            Ok(identity)
        }
        Caller::Refused(AuthError::Unavailable { what, cause }) => {
            tracing::warn!(%cause, "admin UI session could not be checked");
            Err(UiError::Unavailable(format!("{what}; try again shortly.")))
        }
        _ => {
            let next = if req.method().is_safe() {
                req.original_uri().path_and_query().map_or("/app", |path| path.as_str()).to_owned()
            } else {
                "/app".to_owned()
            };
            Err(UiError::SignIn(next))
        }
    }
}

impl Ui {
    /// Renders `template` (200) with the layout's context and `page`'s; shows and clears the flash message.
    pub fn render(&self, template: &str, nav: &str, page: Value) -> Response {
        self.render_status(StatusCode::OK, template, nav, page)
    }

    /// [`Ui::render`] with another status (422 for a form with errors).
    pub fn render_status(&self, status: StatusCode, template: &str, nav: &str, page: Value) -> Response {
        let base = base(self.theme, Some(&self.me), Some(&self.csrf), self.flash.as_ref(), nav);
        let mut response = render(status, template, context! { ..page, ..base });
        if self.flash.is_some() {
            let clear = format!("{FLASH_COOKIE}=; Path=/app; Max-Age=0; HttpOnly; SameSite=Lax");
            if let Ok(value) = HeaderValue::from_str(&clear) {
                response.headers_mut().append(SET_COOKIE, value);
            }
        }
        response
    }

    /// Refuses a form whose `csrf` field is not this session's token.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), UiError> {
        match sent {
            Some(sent) if same_secret(sent, &self.csrf) => Ok(()),
            _ => Err(UiError::Csrf),
        }
    }

    /// The caller's identity (always there: [`Ui`] is only extracted for sessions).
    pub fn identity(&self) -> Option<&Identity> {
        self.caller.identity()
    }
}

/// A submitted `application/x-www-form-urlencoded` form whose `csrf` field matched the session's token. Repeated
/// fields (checkboxes) are kept, which `serde`'s form support cannot do.
pub struct Posted {
    fields: Vec<(String, String)>,
}

impl<'a> FromRequest<'a> for Posted {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let caller = req.extensions().get::<Caller>().cloned().unwrap_or(Caller::Anonymous);
        let identity = signed_in(&caller, req)?;
        let bytes = body.take()?.into_bytes().await?;
        let fields: Vec<(String, String)> =
            url::form_urlencoded::parse(&bytes).map(|(key, value)| (key.into_owned(), value.into_owned())).collect();
        let posted = Self { fields };
        match (posted.get("csrf"), identity.csrf_token.as_deref()) {
            (Some(sent), Some(expected)) if same_secret(sent, expected) => Ok(posted),
            _ => Err(UiError::Csrf.into()),
        }
    }
}

impl Posted {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The first value of `name`, trimmed, or `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|value| !value.is_empty())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields.iter().filter(|(key, _)| key == name).map(|(_, value)| value.as_str()).collect()
    }
}

/// What can go wrong on a page, as an error page (or, for [`UiError::SignIn`], a redirect).
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// Not signed in: to the sign-in page, then back to this path.
    #[error("sign in first")]
    SignIn(String),
    /// The form's CSRF token is missing or wrong.
    #[error("This form has expired or did not come from Blink. Go back, reload the page and try again.")]
    Csrf,
    /// The policy refuses.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// A dependency is down; the message is for the person.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure: logged, never shown.
    #[error("{0}")]
    Internal(String),
}

impl poem::error::ResponseError for UiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::SignIn(_) => StatusCode::SEE_OTHER,
            Self::Csrf | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> Response {
        error_page(Theme::Auto, self)
    }
}

impl From<StorageError> for UiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Unavailable(_) => {
                tracing::error!(%error, "admin UI: database unavailable");
                Self::Unavailable("The database is unavailable; try again shortly.".into())
            }
            StorageError::Full(_) => {
                tracing::error!(%error, "admin UI: storage full");
                Self::Unavailable("The server has run out of storage space; nothing was stored.".into())
            }
            StorageError::Conflict(column) => Self::BadRequest(format!("{column} is already taken.")),
        }
    }
}

impl From<LinkError> for UiError {
    fn from(error: LinkError) -> Self {
        match error {
            LinkError::NotAllowed(denied) => Self::Forbidden(sentence(&denied.to_string())),
            LinkError::NotFound(_) => Self::NotFound("No link has this address.".into()),
            LinkError::Store(error) => error.into(),
            LinkError::Hook(cause) => {
                tracing::error!(%cause, "admin UI: plugin failed");
                Self::Unavailable(format!("{}.", cause.user_message()))
            }
            other => Self::BadRequest(sentence(&other.to_string())),
        }
    }
}

impl From<UserError> for UiError {
    fn from(error: UserError) -> Self {
        match error {
            UserError::NotAllowed(denied) => Self::Forbidden(sentence(&denied.to_string())),
            UserError::NotFound(_) => Self::NotFound("No user has this id.".into()),
            UserError::Store(error) => error.into(),
            other => Self::BadRequest(sentence(&other.to_string())),
        }
    }
}

impl From<TokenError> for UiError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::NotAllowed(denied) => Self::Forbidden(sentence(&denied.to_string())),
            TokenError::NotFound(_) => Self::NotFound("No token has this id.".into()),
            TokenError::Store(error) => error.into(),
            other => Self::BadRequest(sentence(&other.to_string())),
        }
    }
}

/// The errors of a form: one message next to `field`.
pub fn field_errors(field: &str, message: impl Into<String>) -> Value {
    Value::from(std::collections::BTreeMap::from([(field.to_owned(), message.into())]))
}

/// `text` as a sentence: capital first letter, full stop.
pub fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.next().map(|first| first.to_uppercase().collect()).unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// The page for `error`, in the UI's look; server errors show a generic sentence, their cause goes to the log.
fn error_page(theme: Theme, error: &UiError) -> Response {
    use poem::error::ResponseError as _;
    let status = error.status();
    let (title, message) = match error {
        UiError::SignIn(next) => {
            let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
            return see_other(&format!("/app/sign-in?next={next}"));
        }
        UiError::Csrf => ("Forbidden", error.to_string()),
        UiError::Forbidden(message) => ("Forbidden", message.clone()),
        UiError::NotFound(message) => ("Not found", message.clone()),
        UiError::BadRequest(message) => ("Bad request", message.clone()),
        UiError::Unavailable(message) => ("Unavailable", message.clone()),
        UiError::Internal(cause) => {
            tracing::error!(%cause, "admin UI request failed");
            ("Something went wrong", "Something went wrong on our side. Try again; if it keeps happening, tell the people who run this Blink.".to_owned())
        }
    };
    let page = context! { status => status.as_u16(), title => title, message => message };
    render(status, "error.html", context! { ..page, ..base(theme, None, None, None, "") })
}

/// Around every `/app` route: errors become pages in the UI's look (with the reader's theme).
pub async fn error_pages<E: Endpoint>(endpoint: E, req: Request) -> poem::Result<Response> {
    let theme = Theme::of(req.headers());
    match endpoint.call(req).await {
        Ok(response) => Ok(response.into_response()),
        Err(error) => {
            let page = match error.downcast_ref::<UiError>() {
                Some(error) => error_page(theme, error),
                None => {
                    let status = error.status();
                    let error = match status {
                        StatusCode::NOT_FOUND => UiError::NotFound("There is no page at this address.".into()),
                        StatusCode::METHOD_NOT_ALLOWED => {
                            UiError::BadRequest("This address does not answer that kind of request.".into())
                        }
                        status if status.is_client_error() => UiError::BadRequest(sentence(&error.to_string())),
                        _ => UiError::Internal(error.to_string()),
                    };
                    let mut page = error_page(theme, &error);
                    if status.is_client_error() {
                        page.set_status(status);
                    }
                    page
                }
            };
            Ok(page)
        }
    }
}

/// Any other `/app` path: 404 in the UI's look (after the sign-in check, so nothing is revealed to strangers).
#[handler]
pub fn not_found(req: &Request, _ui: Ui) -> poem::Result<Response> {
    if req.original_uri().path() == "/app" {
        return Ok(see_other("/app/links"));
    }
    Err(UiError::NotFound("There is no page at this address.".into()).into())
}

/// `POST /app/theme`: remembers `theme` (light, dark or auto) in a cookie and goes back to `back`.
#[handler]
pub fn set_theme(form: Posted, Data(_state): Data<&AppState>) -> Response {
    let theme = form.get("theme").and_then(Theme::parse).unwrap_or_default();
    let back = form.get("back").filter(|back| is_local_path(back) && back.starts_with("/app")).unwrap_or("/app");
    let mut response = see_other(back);
    let cookie = format!("{THEME_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax", theme.as_str());
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// Renders a page for someone not signed in (the sign-in page).
pub fn render_public(headers: &HeaderMap, template: &str, page: Value) -> Response {
    render(StatusCode::OK, template, context! { ..page, ..base(Theme::of(headers), None, None, None, "") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        for (name, source) in TEMPLATES {
            let mut env = Environment::new();
            for (other, source) in TEMPLATES {
                env.add_template(other, source).unwrap_or_else(|error| panic!("{other}: {error:#}"));
            }
            assert!(env.get_template(name).is_ok(), "{name}: {source:.40}");
        }
    }

    #[test]
    fn flash_messages_survive_the_cookie() {
        let flash = Flash::success("Link created; it's at https://x/y?a=1;b");
        assert_eq!(Flash::decode(&flash.encode()), Some(flash));
        assert_eq!(Flash::decode("%%%"), None);
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert!(is_local_path("/app/links?q=x"));
        for bad in ["//evil.example", "/\\evil.example", "https://evil.example", "app", "/a\r\nSet-Cookie: x"] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }

    #[test]
    fn messages_become_sentences() {
        assert_eq!(sentence("only superusers may delete links"), "Only superusers may delete links.");
        assert_eq!(sentence("Done."), "Done.");
    }
}
