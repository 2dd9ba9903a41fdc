//! People who sign in (and the `api` superuser): reading them, and changing names, roles and deactivation under
//! the rules of [`UserService`]. No HTTP types and no database driver in here.

mod ports;
mod service;

pub use ports::{Page, UserFilter, UserPatch, UserQuery, UserSort, UserStore, UserUpdate};
pub use service::{User, UserChanges, UserError, UserService};
