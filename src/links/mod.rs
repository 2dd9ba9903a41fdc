//! The link domain: slug rules, target URL rules and the link service. No HTTP types in here.

mod hashids;
mod hooks;
mod model;
mod normalize;
mod service;
mod slug;
mod target;

pub use hashids::Hashids;
pub use hooks::{HookError, LinkHooks, SlugVerdict, UrlVerdict};
pub use model::{InvalidRedirectStatus, Link, LinkMeta, Redirect, RedirectStatus};
pub use normalize::{NormalizeError, NormalizeOptions, NormalizedUrl, normalize};
pub use service::{API_USER_ID, Created, LinkChanges, LinkError, LinkService, NewLink, SlugListener};
pub use slug::{SlugError, SlugRef, SlugRules};
pub use target::{TargetError, TargetRules};
