//! `/auth`: signing in and out of the admin UI. The handlers only translate between HTTP and
//! [`crate::auth::SignOn`]: query parameters and cookies in; a 303 and cookies out. Every sign-in problem becomes a
//! redirect to `/app/sign-in?problem=CODE`, and its reason a log line.

use poem::http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use poem::http::{HeaderValue, StatusCode};
use poem::web::{Data, Form, Path, Query};
use poem::{IntoResponse, Request, Response, Route, get, handler};
use serde::Deserialize;

use crate::auth::login::{Callback, LOGIN_COOKIE, LOGIN_STATE_LIFETIME, SignedIn};
use crate::auth::sessions::{self, same_secret};
use crate::auth::{Caller, Credential, SignInError};
use crate::state::AppState;

/// The routes under `/auth`.
pub fn routes() -> Route {
    Route::new()
        .at("/login", get(login))
        .at("/login/callback", get(callback))
        .at("/link/:token", get(link))
        .at("/logout", get(logout_link).post(logout_form))
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// `GET /auth/login?next=PATH`: off to the identity provider, with this browser bound to the sign-in by a cookie.
#[handler]
async fn login(Data(state): Data<&AppState>, Query(query): Query<LoginQuery>) -> Response {
    match state.sign_on.begin(query.next.as_deref()).await {
        Ok(start) => {
            let max_age = LOGIN_STATE_LIFETIME.num_seconds();
            let binding =
                sessions::cookie(LOGIN_COOKIE, &start.binding, "/auth", max_age, state.sign_on.secure_cookies());
            with_cookies(see_other(&start.redirect), &[binding])
        }
        Err(error) => refused(error),
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/login/callback`: the provider sends the browser back here with a code (or an error).
#[handler]
async fn callback(Data(state): Data<&AppState>, Query(query): Query<CallbackQuery>, req: &Request) -> Response {
    let callback = Callback {
        code: query.code.as_deref(),
        state: query.state.as_deref(),
        error: query.error.as_deref(),
        error_description: query.error_description.as_deref(),
    };
    let binding = cookie_header(req).and_then(|header| sessions::named_cookie(header, LOGIN_COOKIE));
    let result = state.sign_on.finish(&callback, binding).await;
    // The sign-in is over either way: its cookie goes.
    let clear_binding = sessions::cookie(LOGIN_COOKIE, "", "/auth", 0, state.sign_on.secure_cookies());
    let response = match result {
        Ok(signed_in) => signed_in_response(state, req, &signed_in).await,
        Err(error) => refused(error),
    };
    with_cookies(response, &[clear_binding])
}

/// `GET /auth/link/TOKEN`: a login link from `blink users login-link`, good once.
#[handler]
async fn link(Data(state): Data<&AppState>, Path(token): Path<String>, req: &Request) -> Response {
    match state.sign_on.redeem_link(&token).await {
        Ok(signed_in) => signed_in_response(state, req, &signed_in).await,
        Err(error) => refused(error),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /auth/logout` (the UI's "Sign out" form): the form's `csrf` field must be the session's token.
#[handler]
async fn logout_form(Data(state): Data<&AppState>, req: &Request, Form(form): Form<LogoutForm>) -> Response {
    let caller = req.extensions().get::<Caller>();
    if let Some(identity) = caller.and_then(Caller::identity).filter(|identity| identity.via == Credential::Session) {
        let expected = identity.csrf_token.as_deref().unwrap_or_default();
        if expected.is_empty() || !same_secret(&form.csrf, expected) {
            let message = "The sign-out form has expired. Reload the page and sign out again.";
            return (StatusCode::FORBIDDEN, message).into_response();
        }
    }
    sign_out(state, req).await
}

/// `GET /auth/logout`: a link anyone can follow. A request another site started (`Sec-Fetch-Site: cross-site` or
/// `same-site`) is ignored, so no page elsewhere can sign a user out.
#[handler]
async fn logout_link(Data(state): Data<&AppState>, req: &Request) -> Response {
    let site = req.headers().get("sec-fetch-site").and_then(|value| value.to_str().ok());
    if matches!(site, Some("cross-site" | "same-site")) {
        return see_other("/app");
    }
    sign_out(state, req).await
}

async fn sign_out(state: &AppState, req: &Request) -> Response {
    let cookie = cookie_header(req).and_then(sessions::cookie_value);
    let location = state.sign_on.sign_out(cookie).await;
    with_cookies(see_other(&location), &[sessions::clear_cookie(state.sign_on.secure_cookies())])
}

/// Sets the new session's cookie, ending the session the browser had before (if any), so no session id chosen
/// or seen before the sign-in outlives it.
async fn signed_in_response(state: &AppState, req: &Request, signed_in: &SignedIn) -> Response {
    if let Some(previous) = cookie_header(req).and_then(sessions::cookie_value)
        && let Err(error) = state.sign_on.sessions().end(previous).await
    {
        tracing::warn!(%error, "cannot end the previous session at sign-in");
    }
    let session = &signed_in.session;
    let cookie = sessions::set_cookie(&session.cookie_value, session.expires_at, state.sign_on.secure_cookies());
    with_cookies(see_other(&signed_in.next), &[cookie])
}

fn refused(error: SignInError) -> Response {
    tracing::warn!(problem = error.problem.code(), reason = %error.reason, "sign-in refused");
    see_other(&error.problem.sign_in_path())
}

fn cookie_header(req: &Request) -> Option<&str> {
    req.headers().get(COOKIE).and_then(|value| value.to_str().ok())
}

/// A 303 to `location`, never cached.
fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(LOCATION, location)
        .header(CACHE_CONTROL, "no-store")
        .finish()
}

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}
