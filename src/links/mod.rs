//! The link domain: slug rules, target URL rules, who may do what to a link, and the link service. No HTTP types
//! and no database driver in here: storage and page reading are ports ([`LinkStore`], [`PageReader`]).

mod cursor;
mod hashids;
mod hooks;
mod model;
mod normalize;
mod ports;
mod service;
mod slug;
mod target;

pub use cursor::InvalidCursor;
pub use hashids::Hashids;
pub use hooks::{HookError, LinkHooks, SlugVerdict, UrlVerdict};
pub use model::{InvalidRedirectStatus, Link, LinkMeta, MetaError, Redirect, RedirectStatus};
pub use normalize::{NormalizeError, NormalizeOptions, NormalizedUrl, normalize};
pub use ports::{
    LinkCursor, LinkPatch, LinkQuery, LinkRow, LinkRows, LinkSort, LinkStore, LinkTotal, NewLinkRow, PageError,
    PageReader, SortKey,
};
pub use service::{API_USER_ID, Created, LinkChanges, LinkError, LinkPage, LinkService, NewLink, SlugListener};
pub use slug::{SlugError, SlugRef, SlugRules};
pub use target::{TargetError, TargetRules};
