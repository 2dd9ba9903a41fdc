//! How a storage port can fail, whatever database is behind it. The services define their ports (`LinkStore`,
//! `UserStore`, `CredentialStore`) in these terms; `store/` maps its driver's errors onto them, so no service ever
//! sees a driver error type.

use async_trait::async_trait;

/// The driver's own error, kept for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a storage operation failed. Whatever the variant, a failed write stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database could not be reached, or failed the operation; trying again later may work.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// The database has no room left (a full disk).
    #[error("the database is out of space: {0}")]
    Full(#[source] Cause),
    /// A unique value is taken; names the column (`hash`, `original_url`).
    #[error("{0} is already taken")]
    Conflict(&'static str),
}

/// Connections of a pool, for `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolUse {
    /// Checked out by a query or transaction.
    pub in_use: u32,
    /// Open and waiting in the pool.
    pub idle: u32,
}

/// A store that can say whether it answers (for readiness probes) and how busy its pool is.
#[async_trait]
pub trait Probe: Send + Sync {
    /// Checks that the database answers a trivial query.
    async fn ping(&self) -> Result<(), StorageError>;
    /// The pool's connections right now.
    fn pool_use(&self) -> PoolUse;
}
