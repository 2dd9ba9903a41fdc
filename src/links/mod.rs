//! The link domain: slug rules, target URL rules, who may do what to a link, and the link service. No HTTP types
//! and no database driver in here: storage and page reading are ports ([`LinkStore`], [`PageReader`]).

mod cursor;
mod declared;
mod hashids;
mod hooks;
mod import;
mod model;
mod normalize;
mod ports;
mod records;
mod resolver;
mod service;
mod slug;
mod target;

pub use cursor::InvalidCursor;
pub use declared::{DeclaredPlan, FieldChange, PlanAction, PlanEntry, check_declared};
pub use hashids::Hashids;
pub use hooks::{HookError, LinkHooks, SlugVerdict, UrlVerdict};
pub use import::ImportSummary;
pub use model::{InvalidRedirectStatus, Link, LinkMeta, MetaError, Redirect, RedirectStatus};
pub use normalize::{NormalizeError, NormalizeOptions, NormalizedUrl, normalize};
pub use ports::{
    DeclaredRow, DeclaredWrite, ImportOutcome, LinkCursor, LinkPatch, LinkQuery, LinkRow, LinkRows, LinkSort,
    LinkStore, LinkTotal, NewLinkRow, PageError, PageReader, PreparedLink, RedirectRow, SortKey,
};
pub use records::{LinkRecord, RecordError, RecordRules};
pub use service::{API_USER_ID, Created, LinkChanges, LinkError, LinkPage, LinkService, NewLink, SlugListener};
pub use slug::{SlugError, SlugRef, SlugRules};
pub use target::{TargetError, TargetRules};
