//! Extension points of link creation, implemented by the plugin host. The domain sees only this trait.

use futures_util::future::BoxFuture;

/// A plugin's answer about a requested brand slug.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlugVerdict {
    /// No objection.
    Accept,
    /// Refused, with a message for the user.
    Refuse(String),
}

/// A plugin's answer about a target URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlVerdict {
    /// Shorten it as it is.
    Allow,
    /// Refuse it, with a reason for the user.
    Deny(String),
    /// Shorten this URL instead (it is checked against the URL rules again).
    Rewrite(String),
}

/// A hook failed and its policy is to fail the request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{what} is unavailable: {cause}")]
pub struct HookError {
    /// What could not answer, for the user: "the link policy", "the slug rules", "the slug generator".
    pub what: &'static str,
    /// Why, for the log.
    pub cause: String,
}

impl HookError {
    /// What the user is told: which check is unavailable and that nothing was saved; never the cause.
    pub fn user_message(&self) -> String {
        let mut what = self.what.to_owned();
        if let Some(first) = what.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        format!("{what} is unavailable (a plugin failed), so nothing was saved; try again shortly")
    }
}

/// Hooks consulted while creating and changing links.
pub trait LinkHooks: Send + Sync {
    /// A slug for a new link at `url` (`attempt` counts retries after collisions); `None` keeps the hashid only.
    fn generate_slug<'a>(
        &'a self,
        url: &'a str,
        creator: &'a str,
        attempt: u32,
    ) -> BoxFuture<'a, Result<Option<String>, HookError>>;
    /// Whether a brand slug that passed Blink's own rules is acceptable.
    fn validate_slug<'a>(&'a self, slug: &'a str) -> BoxFuture<'a, Result<SlugVerdict, HookError>>;
    /// Whether `url` may be shortened, and in what form.
    fn check_link<'a>(&'a self, url: &'a str, creator: &'a str) -> BoxFuture<'a, Result<UrlVerdict, HookError>>;
}
