//! Liveness and readiness probes.

use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{IntoResponse, Response, handler};
use serde_json::{Value, json};

use crate::state::AppState;

/// `GET /health`, kept from Node Blink: plain `OK`.
#[handler]
pub fn health() -> &'static str {
    "OK"
}

/// `GET /healthz`: the process is alive.
#[handler]
pub fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database (and Redis, when configured) answer.
#[handler]
pub async fn readyz(Data(state): Data<&AppState>) -> Response {
    let (database, redis) = tokio::join!(check_database(state), check_redis(state));
    let mut checks = serde_json::Map::new();
    let mut down = Vec::new();
    for (name, result) in [("database", Some(database)), ("redis", redis)] {
        match result {
            None => {}
            Some(Ok(())) => {
                checks.insert(name.into(), json!({ "status": "ok" }));
            }
            Some(Err(error)) => {
                tracing::warn!(check = name, %error, "readiness check failed");
                checks.insert(name.into(), json!({ "status": "down", "error": error }));
                down.push(name);
            }
        }
    }
    let (status, word) =
        if down.is_empty() { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "unavailable") };
    Json(json!({ "status": word, "down": down, "checks": checks })).with_status(status).into_response()
}

async fn check_database(state: &AppState) -> Result<(), String> {
    within_timeout(state, async { state.store.ping().await.map_err(|error| error.to_string()) }).await
}

async fn check_redis(state: &AppState) -> Option<Result<(), String>> {
    let client = state.redis.as_ref()?;
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    Some(within_timeout(state, async { ping.await.map(drop).map_err(|error| error.to_string()) }).await)
}

/// A dependency that does not answer within `server.readiness_timeout` counts as down.
async fn within_timeout(state: &AppState, check: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    let limit = state.config.server.readiness_timeout;
    tokio::time::timeout(limit.get(), check).await.unwrap_or_else(|_| Err(format!("no answer within {limit}")))
}
