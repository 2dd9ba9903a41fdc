//! Personal API tokens: `blink_` followed by 40 random base62 characters (about 238 bits), so secret scanners can
//! spot them. The token is shown once; the database keeps only its SHA-256, which is what a presented token is
//! looked up by.

use sha2::{Digest, Sha256};

/// What every token starts with.
pub const PREFIX: &str = "blink_";

/// Random characters after [`PREFIX`].
const RANDOM_LEN: usize = 40;

/// Random characters kept (after [`PREFIX`]) as the displayable prefix; the rest stays secret.
const SHOWN_LEN: usize = 6;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The resources and actions a scope names; `*` stands for any one of them.
const RESOURCES: &[&str] = &["link", "user"];
const ACTIONS: &[&str] = &["create", "read", "update", "delete"];

/// A new token: the plain text to show once, its hash to store, and its prefix to display.
#[derive(Clone, Debug)]
pub struct NewToken {
    /// `blink_…`; give it to the user and forget it.
    pub plain: String,
    /// What the database stores: [`hash`] of `plain`.
    pub hash: String,
    /// `blink_` plus the first few random characters, for listings.
    pub prefix: String,
}

/// Makes a new random token.
pub fn generate() -> NewToken {
    let mut plain = String::with_capacity(PREFIX.len() + RANDOM_LEN);
    plain.push_str(PREFIX);
    while plain.len() < PREFIX.len() + RANDOM_LEN {
        // A version-4 UUID comes from a CSPRNG seeded by the OS; bytes 6 and 8 carry its fixed version and variant
        // bits, every other byte is uniformly random.
        let bytes = uuid::Uuid::new_v4().into_bytes();
        let random = bytes.iter().enumerate().filter(|(index, _)| *index != 6 && *index != 8).map(|(_, byte)| *byte);
        // Rejection sampling: 248 = 4 × 62, so `byte % 62` of a byte below it is unbiased.
        for byte in random.filter(|byte| *byte < 248) {
            if plain.len() == PREFIX.len() + RANDOM_LEN {
                break;
            }
            plain.push(char::from(BASE62[usize::from(byte % 62)]));
        }
    }
    let prefix = plain[..PREFIX.len() + SHOWN_LEN].to_owned();
    NewToken { hash: hash(&plain), plain, prefix }
}

/// The stored form of a token: SHA-256 of its text, lowercase hex. A fast hash is enough because the token is
/// random and long; there is nothing to guess.
pub fn hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

/// Whether `text` has the shape of a Blink token (it may still be unknown, expired or revoked).
pub fn looks_like_token(text: &str) -> bool {
    text.strip_prefix(PREFIX)
        .is_some_and(|random| random.len() == RANDOM_LEN && random.bytes().all(|byte| byte.is_ascii_alphanumeric()))
}

/// Checks a space-separated scope list and returns its scopes, without duplicates, in the order given.
///
/// Each scope is `resource:action` with resource `link` or `user` and action `create`, `read`, `update` or
/// `delete`; `*` may replace either whole segment (`link:*`, `*:read`). A lone `*` means every scope and is
/// returned as `*:*`, since a granted `*` matches exactly one segment.
pub fn validate_scopes(text: &str) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in text.split_whitespace() {
        let scope = if scope == "*" { "*:*" } else { scope };
        let valid = scope.split_once(':').is_some_and(|(resource, action)| {
            (resource == "*" || RESOURCES.contains(&resource)) && (action == "*" || ACTIONS.contains(&action))
        });
        if !valid {
            return Err(format!(
                "`{scope}` is not a scope: write `resource:action` with resource {} or `*` and action {} or `*` \
                 (for example `link:*` or `*:read`)",
                RESOURCES.join(", "),
                ACTIONS.join(", ")
            ));
        }
        if !scopes.iter().any(|known| known == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err("no scopes given: a token needs at least one (for example `link:*` or `*:read`)".to_owned());
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_have_the_prefix_and_40_base62_characters() {
        let token = generate();
        assert!(token.plain.starts_with("blink_"), "{}", token.plain);
        assert_eq!(token.plain.len(), 46);
        assert!(token.plain[6..].bytes().all(|byte| byte.is_ascii_alphanumeric()), "{}", token.plain);
        assert!(looks_like_token(&token.plain));
    }

    #[test]
    fn the_hash_is_sha256_hex_of_the_token_and_the_prefix_is_its_start() {
        let token = generate();
        assert_eq!(token.hash, hash(&token.plain));
        assert_eq!(token.hash.len(), 64);
        assert!(token.hash.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')));
        assert_eq!(token.prefix.len(), 12);
        assert!(token.plain.starts_with(&token.prefix));
        // A known vector, so the stored form never changes by accident.
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn generated_tokens_differ_and_use_the_whole_alphabet() {
        let tokens: Vec<String> = (0..200).map(|_| generate().plain).collect();
        let mut unique = tokens.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), tokens.len());
        // 200 × 40 = 8000 draws from 62 characters: every one turns up unless the sampling is broken.
        let mut seen = [false; 62];
        for token in &tokens {
            for byte in token[6..].bytes() {
                seen[BASE62.iter().position(|c| *c == byte).unwrap()] = true;
            }
        }
        assert!(seen.iter().all(|seen| *seen));
    }

    #[test]
    fn only_well_formed_text_looks_like_a_token() {
        let good = format!("blink_{}", "a".repeat(40));
        assert!(looks_like_token(&good));
        for bad in [
            "",
            "blink_",
            &format!("blink_{}", "a".repeat(39)),
            &format!("blink_{}", "a".repeat(41)),
            &format!("blink_{}-", "a".repeat(39)),
            &format!("Blink_{}", "a".repeat(40)),
            &format!("ghp_{}", "a".repeat(40)),
            "eyJhbGciOiJIUzI1NiJ9.e30.sig",
        ] {
            assert!(!looks_like_token(bad), "{bad}");
        }
    }

    #[test]
    fn valid_scopes_are_returned_in_order_without_duplicates() {
        let cases: &[(&str, &[&str])] = &[
            ("link:*", &["link:*"]),
            ("link:create user:read", &["link:create", "user:read"]),
            ("  *:read\tlink:delete  *:read ", &["*:read", "link:delete"]),
            ("user:*", &["user:*"]),
            ("*:*", &["*:*"]),
            ("*", &["*:*"]),
            ("* *:*", &["*:*"]),
            ("link:update user:update link:read", &["link:update", "user:update", "link:read"]),
        ];
        for (text, expected) in cases {
            assert_eq!(validate_scopes(text).unwrap(), *expected, "{text:?}");
        }
    }

    #[test]
    fn malformed_scopes_are_refused_naming_the_scope() {
        for (text, bad) in [
            ("link:write", "link:write"),
            ("link:read links:read", "links:read"),
            ("link", "link"),
            ("link:", "link:"),
            (":read", ":read"),
            ("link:read:extra", "link:read:extra"),
            ("LINK:READ", "LINK:READ"),
            ("link:re*", "link:re*"),
            ("**", "**"),
            ("link:read,user:read", "link:read,user:read"),
        ] {
            let error = validate_scopes(text).unwrap_err();
            assert!(error.starts_with(&format!("`{bad}` is not a scope")), "{text:?}: {error}");
        }
    }

    #[test]
    fn an_empty_scope_list_is_refused() {
        for text in ["", "   "] {
            assert!(validate_scopes(text).unwrap_err().starts_with("no scopes given"), "{text:?}");
        }
    }
}
