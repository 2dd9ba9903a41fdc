//! Caches in front of the database: each process's memory, and optionally a tier every instance shares (Redis).

mod redirects;

pub use redirects::{CacheStats, CachedRedirect, RedirectCache, SharedTier};
