//! `GET /app/sign-in?problem=&next=`: the way in. With single sign-on configured, one button to the identity
//! provider; without, how to get a login link. Sign-on (`/auth/...`) sends people here with a problem code when
//! signing in did not work.

use minijinja::context;
use poem::web::Query;
use poem::{Request, Response, handler};
use serde::Deserialize;

use super::frame::{is_local_path, render_public};
use crate::auth::SignOnStatus;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    problem: Option<String>,
    next: Option<String>,
}

/// The sentence for a problem code from sign-on, and whether it is only information.
fn problem_sentence(code: &str) -> (&'static str, bool) {
    match code {
        "signed-out" => ("You are signed out.", true),
        "not-configured" => ("Single sign-on is not configured on this server.", false),
        "provider-down" => (
            "The identity provider cannot be reached right now. Try again in a minute, or ask an operator for a \
             login link.",
            false,
        ),
        "state-invalid" => {
            ("That sign-in attempt expired or was started in another tab or browser. Please start again.", false)
        }
        "login-failed" => ("The identity provider did not confirm who you are. Please try again.", false),
        "deactivated" => ("Your account is deactivated. Ask a Blink superuser to reactivate it.", false),
        "link-invalid" => {
            ("This login link was already used, has expired or is unknown. Ask an operator for a new one.", false)
        }
        _ => ("Signing in did not work. Please try again.", false),
    }
}

/// The sign-in page.
#[handler]
pub fn page(req: &Request, Query(query): Query<SignInQuery>) -> Response {
    let state = req.data::<AppState>();
    let status = state.map_or(SignOnStatus::NotConfigured, |state| state.sign_on.status());
    let configured = status != SignOnStatus::NotConfigured;
    let provider_down = status == SignOnStatus::Unavailable;
    let next = query.next.filter(|next| is_local_path(next)).unwrap_or_else(|| "/app".to_owned());
    let sso_url =
        format!("/auth/login?next={}", url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>());
    let problem = query.problem.as_deref().filter(|code| !code.is_empty()).map(|code| {
        let (text, info) = problem_sentence(code);
        context! { text => text, info => info }
    });
    render_public(
        req.headers(),
        "sign_in.html",
        context! { configured => configured, provider_down => provider_down, sso_url => sso_url, problem => problem, nav => "sign-in" },
    )
}

#[cfg(test)]
mod tests {
    use super::problem_sentence;

    #[test]
    fn every_problem_code_has_its_own_sentence() {
        let codes = ["not-configured", "provider-down", "state-invalid", "login-failed", "deactivated", "link-invalid"];
        let generic = problem_sentence("something-new").0;
        for code in codes {
            let (text, info) = problem_sentence(code);
            assert!(text != generic && !info, "{code}");
        }
        assert!(problem_sentence("signed-out").1);
    }
}
