//! Node Blink's authorization matrix, in one place: which caller may do what to which resource. A request is
//! checked before its handler changes anything. Scopes restrict on top of the role rules.

use super::identity::{Caller, Identity, Role};

/// Something a caller wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Read links (signed-in callers; anonymous ones too with `[api] public_read`, which the link service decides).
    ReadLinks,
    /// Create a link (any signed-in user).
    CreateLink,
    /// Change a link's `meta` (any signed-in user).
    EditLinkMeta,
    /// Set a link's brand slug: only its creator, and only while it has none.
    SetBrand { creator: &'a str, current: Option<&'a str> },
    /// Change a link's redirect status or cache max-age: its creator or a superuser.
    SetRedirectOverrides { creator: &'a str },
    /// Change a link's target: never (it is immutable, as in Node Blink).
    ChangeOriginalUrl,
    /// Delete a link: superusers only.
    DeleteLink,
    /// Read users (any signed-in user).
    ReadUsers,
    /// Change a user's name: only that user.
    EditUserName { user_id: &'a str },
    /// Change a user's role or deactivate them: superusers, and never to deactivate a superuser.
    EditUserStatus { target_role: Role, deactivating: bool },
}

impl Action<'_> {
    /// The scope a credential must carry for this action.
    pub fn scope(&self) -> &'static str {
        match self {
            Self::ReadLinks => "link:read",
            Self::CreateLink => "link:create",
            Self::EditLinkMeta
            | Self::SetBrand { .. }
            | Self::SetRedirectOverrides { .. }
            | Self::ChangeOriginalUrl => "link:update",
            Self::DeleteLink => "link:delete",
            Self::ReadUsers => "user:read",
            Self::EditUserName { .. } | Self::EditUserStatus { .. } => "user:update",
        }
    }
}

/// Why an action was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Only signed-in callers may do this.
    #[error("sign in (or send an API token) to do this")]
    Unauthenticated,
    /// The caller's role or relation to the resource does not allow it.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The credential lacks the scope.
    #[error("this credential lacks the `{0}` scope")]
    MissingScope(&'static str),
}

/// Decides whether `caller` may perform `action`, and answers who they are when they may.
pub fn authorize<'c>(caller: &'c Caller, action: Action<'_>) -> Result<&'c Identity, Denied> {
    let identity = caller.identity().ok_or(Denied::Unauthenticated)?;
    role_allows(identity, action)?;
    if identity.scopes.allows(action.scope()) { Ok(identity) } else { Err(Denied::MissingScope(action.scope())) }
}

fn role_allows(identity: &Identity, action: Action<'_>) -> Result<(), Denied> {
    let me = identity.user_id.as_str();
    match action {
        Action::ReadLinks | Action::CreateLink | Action::EditLinkMeta | Action::ReadUsers => Ok(()),
        Action::SetBrand { creator, current } => {
            if creator != me {
                Err(Denied::Forbidden("only the link's creator may set its custom slug"))
            } else if current.is_some() {
                Err(Denied::Forbidden("the link already has a custom slug; it cannot be changed"))
            } else {
                Ok(())
            }
        }
        Action::SetRedirectOverrides { creator } => {
            if creator == me || identity.is_superuser() {
                Ok(())
            } else {
                Err(Denied::Forbidden("only the link's creator or a superuser may change how it redirects"))
            }
        }
        Action::ChangeOriginalUrl => Err(Denied::Forbidden("a link's originalUrl never changes; create a new link")),
        Action::DeleteLink if identity.is_superuser() => Ok(()),
        Action::DeleteLink => Err(Denied::Forbidden("only superusers may delete links")),
        Action::EditUserName { user_id } if user_id == me => Ok(()),
        Action::EditUserName { .. } => Err(Denied::Forbidden("users may only change their own name")),
        Action::EditUserStatus { target_role: Role::Superuser, deactivating: true } => {
            Err(Denied::Forbidden("a superuser cannot be deactivated"))
        }
        Action::EditUserStatus { .. } if identity.is_superuser() => Ok(()),
        Action::EditUserStatus { .. } => Err(Denied::Forbidden("only superusers may change roles or deactivate users")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::identity::Credential;
    use super::super::scopes::Scopes;
    use super::*;

    fn caller(id: &str, role: Role, scopes: &str) -> Caller {
        Caller::Authenticated(Identity {
            user_id: id.into(),
            role,
            scopes: Scopes::parse(scopes),
            via: Credential::Token,
            csrf_token: None,
        })
    }

    fn anonymous() -> Caller {
        Caller::Anonymous
    }

    fn alice() -> Caller {
        caller("alice", Role::User, "*:*")
    }

    fn root() -> Caller {
        caller("root", Role::Superuser, "*:*")
    }

    /// Every cell of the matrix: (caller, action, allowed).
    #[test]
    fn the_policy_matrix() {
        use Action::*;
        let cells: Vec<(&str, Caller, Action<'static>, bool)> = vec![
            ("anonymous callers do not read links", anonymous(), ReadLinks, false),
            ("users read links", alice(), ReadLinks, true),
            ("anonymous cannot create", anonymous(), CreateLink, false),
            ("users create", alice(), CreateLink, true),
            ("superusers create", root(), CreateLink, true),
            ("anonymous cannot edit meta", anonymous(), EditLinkMeta, false),
            ("any user edits meta", alice(), EditLinkMeta, true),
            ("creator sets empty brand", alice(), SetBrand { creator: "alice", current: None }, true),
            ("creator cannot replace brand", alice(), SetBrand { creator: "alice", current: Some("old") }, false),
            ("others cannot set brand", alice(), SetBrand { creator: "bob", current: None }, false),
            ("superusers cannot set others' brand", root(), SetBrand { creator: "bob", current: None }, false),
            ("creator sets overrides", alice(), SetRedirectOverrides { creator: "alice" }, true),
            ("others cannot set overrides", alice(), SetRedirectOverrides { creator: "bob" }, false),
            ("superusers set overrides", root(), SetRedirectOverrides { creator: "bob" }, true),
            ("nobody changes originalUrl", alice(), ChangeOriginalUrl, false),
            ("not even superusers", root(), ChangeOriginalUrl, false),
            ("users cannot delete", alice(), DeleteLink, false),
            ("superusers delete", root(), DeleteLink, true),
            ("anonymous cannot delete", anonymous(), DeleteLink, false),
            ("anonymous cannot read users", anonymous(), ReadUsers, false),
            ("users read users", alice(), ReadUsers, true),
            ("users rename themselves", alice(), EditUserName { user_id: "alice" }, true),
            ("users cannot rename others", alice(), EditUserName { user_id: "bob" }, false),
            ("superusers cannot rename others", root(), EditUserName { user_id: "bob" }, false),
            (
                "users cannot change roles",
                alice(),
                EditUserStatus { target_role: Role::User, deactivating: false },
                false,
            ),
            ("users cannot deactivate", alice(), EditUserStatus { target_role: Role::User, deactivating: true }, false),
            ("superusers promote", root(), EditUserStatus { target_role: Role::User, deactivating: false }, true),
            (
                "superusers deactivate users",
                root(),
                EditUserStatus { target_role: Role::User, deactivating: true },
                true,
            ),
            (
                "never deactivate a superuser",
                root(),
                EditUserStatus { target_role: Role::Superuser, deactivating: true },
                false,
            ),
            (
                "superusers demote superusers",
                root(),
                EditUserStatus { target_role: Role::Superuser, deactivating: false },
                true,
            ),
        ];
        for (name, caller, action, allowed) in cells {
            assert_eq!(authorize(&caller, action).is_ok(), allowed, "{name}");
        }
    }

    #[test]
    fn anonymous_refusals_ask_to_sign_in() {
        assert_eq!(authorize(&anonymous(), Action::CreateLink).err(), Some(Denied::Unauthenticated));
    }

    #[test]
    fn scopes_restrict_on_top_of_roles() {
        let reader = caller("root", Role::Superuser, "link:read");
        assert!(authorize(&reader, Action::ReadLinks).is_ok());
        assert_eq!(authorize(&reader, Action::DeleteLink).err(), Some(Denied::MissingScope("link:delete")));
        let creator = caller("alice", Role::User, "link:create link:update");
        assert!(authorize(&creator, Action::CreateLink).is_ok());
        assert_eq!(authorize(&creator, Action::ReadUsers).err(), Some(Denied::MissingScope("user:read")));
        let wildcard = caller("alice", Role::User, "link:*");
        assert!(authorize(&wildcard, Action::EditLinkMeta).is_ok());
        assert!(authorize(&wildcard, Action::ReadUsers).is_err());
    }

    #[test]
    fn a_scope_never_grants_what_the_role_forbids() {
        let user = caller("alice", Role::User, "*:*");
        assert!(matches!(authorize(&user, Action::DeleteLink), Err(Denied::Forbidden(_))));
    }
}
