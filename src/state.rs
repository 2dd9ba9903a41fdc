//! Everything a request handler may need, built once at start and cheap to clone.

use std::sync::Arc;

use crate::config::Config;
use crate::store::Store;

/// Shared application state.
#[derive(Clone)]
pub struct AppState {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// Redis, when `REDIS_URL` is set.
    pub redis: Option<redis::Client>,
}

impl AppState {
    /// Assembles the state from its parts.
    pub fn new(config: Config, store: Store, redis: Option<redis::Client>) -> Self {
        Self { config: Arc::new(config), store, redis }
    }
}
