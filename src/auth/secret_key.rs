//! `SESSION_SECRET`: the HMAC key for what Blink signs (today: the binding of a sign-in in progress to the browser
//! that started it). Set, it must be long enough (checked in `config`); unset, Blink generates one and keeps it in
//! the database, so every instance signs with the same key. Also the one source of random secrets for sign-on.

use std::fmt;
use std::sync::Arc;

use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::ports::SignOnStore;
use crate::storage::StorageError;

/// The `server_secrets` row holding a generated session secret.
const STORED_NAME: &str = "session";

/// An HMAC-SHA256 key. Never printed.
#[derive(Clone)]
pub struct SecretKey(Arc<[u8]>);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// The key `configured` (`SESSION_SECRET`), else the one kept in the database, generated and stored there by
    /// whichever instance needed it first.
    pub async fn resolve(configured: Option<&str>, store: &dyn SignOnStore) -> Result<Self, StorageError> {
        if let Some(secret) = configured.filter(|secret| !secret.is_empty()) {
            return Ok(Self::from_text(secret));
        }
        let candidate = format!("{}{}", random_token(), random_token());
        let stored = store.server_secret(STORED_NAME, &candidate, Utc::now()).await?;
        if stored == candidate {
            tracing::info!("SESSION_SECRET is not set: generated one and stored it in the database (server_secrets)");
        }
        Ok(Self::from_text(&stored))
    }

    /// A key made of `text`'s bytes.
    pub fn from_text(text: &str) -> Self {
        Self(text.as_bytes().into())
    }

    /// HMAC-SHA256 of `data`, lowercase hex.
    pub fn sign(&self, data: &str) -> String {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(data.as_bytes());
        format!("{:x}", mac.finalize().into_bytes())
    }
}

/// A fresh random secret: 32 bytes from the operating system's CSPRNG, base64url without padding (43 characters).
pub fn random_token() -> String {
    openidconnect::CsrfToken::new_random_len(32).secret().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_depend_on_key_and_data() {
        let key = SecretKey::from_text("k".repeat(32).as_str());
        assert_eq!(key.sign("a"), key.sign("a"));
        assert_ne!(key.sign("a"), key.sign("b"));
        assert_ne!(key.sign("a"), SecretKey::from_text("other").sign("a"));
        assert_eq!(key.sign("a").len(), 64);
    }

    #[test]
    fn random_tokens_are_long_and_different() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert!(a.len() >= 43, "{a}");
    }
}
