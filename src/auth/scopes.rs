//! Scopes: `resource:action` strings (`link:create`, `user:read`) where a granted `*` matches one whole segment,
//! so `link:*` grants every link action and `*:read` every read; `*:*` grants everything.

/// The scopes a credential carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Scopes from a space-separated list (the OAuth2 `scope` form).
    pub fn parse(text: &str) -> Self {
        Self(text.split_whitespace().map(str::to_owned).collect())
    }

    /// Scopes from a list.
    pub fn from_list(scopes: Vec<String>) -> Self {
        Self(scopes)
    }

    /// Every scope: for the admin UI's own session, which policies alone restrict.
    pub fn everything() -> Self {
        Self(vec!["*:*".to_owned()])
    }

    /// Whether some granted scope covers `required`.
    pub fn allows(&self, required: &str) -> bool {
        self.0.iter().any(|granted| covers(granted, required))
    }

    /// The scopes as written.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

fn covers(granted: &str, required: &str) -> bool {
    let mut granted_parts = granted.split(':');
    let mut required_parts = required.split(':');
    loop {
        match (granted_parts.next(), required_parts.next()) {
            (None, None) => return true,
            (Some(g), Some(r)) if g == "*" || g == r => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_exactly_one_segment() {
        let cases = [
            ("link:read", "link:read", true),
            ("link:read", "link:create", false),
            ("link:*", "link:delete", true),
            ("link:*", "user:read", false),
            ("*:read", "user:read", true),
            ("*:read", "link:read", true),
            ("*:read", "link:update", false),
            ("*:*", "user:update", true),
            ("*", "link:read", false),
            ("link", "link:read", false),
            ("link:read:extra", "link:read", false),
            ("LINK:READ", "link:read", false),
        ];
        for (granted, required, expected) in cases {
            assert_eq!(Scopes::parse(granted).allows(required), expected, "{granted} vs {required}");
        }
    }

    #[test]
    fn any_granted_scope_suffices() {
        let scopes = Scopes::parse("user:read  link:create");
        assert!(scopes.allows("link:create") && scopes.allows("user:read"));
        assert!(!scopes.allows("link:delete"));
        assert!(!Scopes::default().allows("link:read"));
    }
}
