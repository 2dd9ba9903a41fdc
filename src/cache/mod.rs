//! Caches in front of the database. Today the in-process tier; a Redis tier shared by instances comes later.

mod redirects;

pub use redirects::{CachedRedirect, RedirectCache};
