//! Admin UI sessions: a random cookie value (stored only as its hash, in Redis or the database) and a CSRF token
//! per session. A session ends at its absolute lifetime (`SESSION_DURATION`), after `[session] idle_timeout`
//! without use, at sign-out, or when its user is deactivated. Sign-on creates them; the API and the UI accept them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::ports::{SessionStore, StoredSession};
use super::{secret_key, tokens};
use crate::config::SessionConfig;
use crate::storage::StorageError;

/// The session cookie's name.
pub const COOKIE: &str = "blink_session";

/// The header state-changing requests made with a session must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How stale `last_seen_at` may get before a request refreshes it (saves a write per request); the idle timeout
/// is therefore exact to within this.
const TOUCH_GRANULARITY: TimeDelta = TimeDelta::seconds(60);

/// A new session: the cookie value to set, and the CSRF token to hand the page.
#[derive(Clone, Debug)]
pub struct NewSession {
    /// Goes in the `blink_session` cookie (HttpOnly, SameSite=Lax, Secure with an https `BASE_URL`).
    pub cookie_value: String,
    /// Goes in the page, for `X-CSRF-Token` and `csrf` form fields.
    pub csrf_token: String,
    /// When it ends at the latest (the cookie's lifetime).
    pub expires_at: DateTime<Utc>,
}

/// Starts, finds and ends sessions in a [`SessionStore`]. Cheap to clone.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    duration: TimeDelta,
    idle: TimeDelta,
}

impl Sessions {
    /// Sessions kept in `store`, lasting as `config` says.
    pub fn new(store: Arc<dyn SessionStore>, config: &SessionConfig) -> Self {
        let delta = |d: Duration| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
        Self { store, duration: delta(config.duration.get()), idle: delta(config.idle_timeout.get()) }
    }

    /// Starts a session for `user_id` (who must exist), remembering the provider's `id_token` for sign-out.
    pub async fn start(&self, user_id: &str, id_token: Option<String>) -> Result<NewSession, StorageError> {
        let now = Utc::now();
        let cookie = secret_key::random_token();
        let csrf = secret_key::random_token();
        let session = StoredSession {
            user_id: user_id.to_owned(),
            csrf_token: csrf.clone(),
            created_at: now,
            expires_at: now.checked_add_signed(self.duration).unwrap_or(DateTime::<Utc>::MAX_UTC),
            last_seen_at: now,
            id_token,
        };
        self.store.insert_session(&tokens::hash(&cookie), &session, self.ttl(&session, now)).await?;
        Ok(NewSession { cookie_value: cookie, csrf_token: csrf, expires_at: session.expires_at })
    }

    /// The live session whose cookie value is `cookie_value`: neither past its absolute end nor idle too long.
    /// Refreshes its last use when that is older than a minute.
    pub async fn resolve(&self, cookie_value: &str) -> Result<Option<StoredSession>, StorageError> {
        let now = Utc::now();
        let id_hash = tokens::hash(cookie_value);
        let Some(session) = self.store.session(&id_hash).await? else { return Ok(None) };
        if !self.is_live(&session, now) {
            return Ok(None);
        }
        if now - session.last_seen_at > TOUCH_GRANULARITY {
            let (store, ttl) = (self.store.clone(), self.ttl(&session, now));
            // Bookkeeping off the request's path: a failed write must not fail the request.
            tokio::spawn(async move {
                if let Err(error) = store.touch_session(&id_hash, now, ttl).await {
                    tracing::warn!(%error, "cannot record session use");
                }
            });
        }
        Ok(Some(session))
    }

    /// Ends the session whose cookie value is `cookie_value`, answering what it was (if it existed).
    pub async fn end(&self, cookie_value: &str) -> Result<Option<StoredSession>, StorageError> {
        self.store.take_session(&tokens::hash(cookie_value)).await
    }

    /// Ends every session of `user_id` at once.
    pub async fn end_all(&self, user_id: &str) -> Result<u64, StorageError> {
        let ended = self.store.delete_user_sessions(user_id).await?;
        tracing::info!(user.id = user_id, sessions = ended, "ended the user's sessions");
        Ok(ended)
    }

    fn is_live(&self, session: &StoredSession, now: DateTime<Utc>) -> bool {
        let idle_until = session.last_seen_at.checked_add_signed(self.idle).unwrap_or(DateTime::<Utc>::MAX_UTC);
        session.expires_at > now && idle_until > now
    }

    /// How long a store may keep the session unused: the idle timeout, or less when its absolute end is nearer.
    fn ttl(&self, session: &StoredSession, now: DateTime<Utc>) -> Duration {
        let left = (session.expires_at - now).min(self.idle);
        left.to_std().unwrap_or(Duration::from_secs(1)).max(Duration::from_secs(1))
    }
}

/// The `Set-Cookie` value that gives the browser a session until `expires_at`.
pub fn set_cookie(cookie_value: &str, expires_at: DateTime<Utc>, secure: bool) -> String {
    let max_age = (expires_at - Utc::now()).num_seconds().max(0);
    cookie(COOKIE, cookie_value, "/", max_age, secure)
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    cookie(COOKIE, "", "/", 0, secure)
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Lax always (a cross-site top-level GET, like the provider's
/// redirect back, still carries it; cross-site subrequests and POSTs do not), Secure when Blink is served over https.
pub fn cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// The value of cookie `name` in a `Cookie` header, if any.
pub fn named_cookie<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// The session cookie's value in a `Cookie` header, if any.
pub fn cookie_value(cookie_header: &str) -> Option<&str> {
    named_cookie(cookie_header, COOKIE)
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

    #[test]
    fn cookies_are_http_only_lax_and_secure_over_https() {
        let plain = cookie(COOKIE, "v", "/", 60, false);
        assert_eq!(plain, "blink_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax");
        assert!(cookie(COOKIE, "v", "/", 60, true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
