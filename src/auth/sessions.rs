//! Admin UI sessions: a random cookie value (stored only as its hash) and a CSRF token per session. Sign-on
//! creates them; the API accepts them, requiring the CSRF token on state-changing requests.

use chrono::{DateTime, Utc};

use super::ports::CredentialStore;
use super::tokens;
use crate::storage::StorageError;

/// The session cookie's name.
pub const COOKIE: &str = "blink_session";

/// The header state-changing requests made with a session must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A new session: the cookie value to set, and the CSRF token to hand the page.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Goes in the `blink_session` cookie (HttpOnly, Secure, SameSite=Lax).
    pub cookie_value: String,
    /// Goes in the page, for `X-CSRF-Token`.
    pub csrf_token: String,
}

/// Starts a session for `user_id` lasting until `expires_at`.
pub async fn start(
    store: &dyn CredentialStore,
    user_id: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<NewSession, StorageError> {
    let cookie = tokens::generate();
    let csrf = tokens::generate();
    store.insert_session(&cookie.hash, user_id, &csrf.plain, now, expires_at).await?;
    Ok(NewSession { cookie_value: cookie.plain, csrf_token: csrf.plain })
}

/// The session cookie's value in a `Cookie` header, if any.
pub fn cookie_value(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
}

/// Compares in time independent of where the strings differ, so the CSRF token cannot be guessed byte by byte.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        assert_eq!(cookie_value("a=1; blink_session=abc; b=2"), Some("abc"));
        assert_eq!(cookie_value("blink_session=\"q\""), Some("q"));
        assert_eq!(cookie_value("other=1"), None);
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
