//! HTTP: routing and middleware only. Each area exports its own routes; [`app`] merges them.

mod health;
pub mod middleware;
pub mod problem;

use poem::{Endpoint, EndpointExt};

use crate::state::AppState;

/// The whole HTTP application for `state`, with the middleware chain every route runs through.
pub fn app(state: AppState) -> impl Endpoint {
    let config = state.config.clone();
    middleware::wrap(health::routes(), &config).data(state)
}
