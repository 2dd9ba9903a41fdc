//! Liveness and readiness probes.

use chrono::{DateTime, SecondsFormat, Utc};
use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{IntoResponse, Response, handler};
use serde_json::{Value, json};

use crate::redis::Status;
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

/// `GET /readyz`: the database (and Redis, when configured) answer; also says whether sign-on is ready.
#[handler]
pub async fn readyz(Data(state): Data<&AppState>) -> Response {
    let (database, redis) = tokio::join!(check_database(state), check_redis(state));
    let mut checks = serde_json::Map::new();
    let mut down = Vec::new();
    for (name, check) in [("database", Some(database)), ("redis", redis)] {
        let Some(check) = check else { continue };
        if check["status"] != "ok" {
            down.push(name);
        }
        checks.insert(name.into(), check);
    }
    // Reported, never failing readiness: Blink serves redirects and the API without the identity provider.
    checks.insert("sign_on".into(), json!({ "status": state.sign_on.status().as_str() }));
    let (status, word) =
        if down.is_empty() { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "unavailable") };
    Json(json!({ "status": word, "down": down, "checks": checks })).with_status(status).into_response()
}

async fn check_database(state: &AppState) -> Value {
    let limit = state.config.server.readiness_timeout;
    let ping = async { state.database.ping().await.map_err(|error| error.to_string()) };
    match tokio::time::timeout(limit.get(), ping).await.unwrap_or_else(|_| Err(format!("no answer within {limit}"))) {
        Ok(()) => json!({ "status": "ok" }),
        Err(error) => {
            tracing::warn!(check = "database", %error, "readiness check failed");
            json!({ "status": "down", "error": error })
        }
    }
}

/// Redis is down at once while the supervisor knows it is; else it must answer a PING on the shared connection
/// within the readiness timeout. Not logged: the supervisor says once per outage what a probe would repeat.
async fn check_redis(state: &AppState) -> Option<Value> {
    let redis = state.redis.as_ref()?;
    let Err(error) = redis.ping(state.config.server.readiness_timeout.get()).await else {
        return Some(json!({ "status": "ok" }));
    };
    Some(match redis.status() {
        Status::Down { since, error } => {
            let since = DateTime::<Utc>::from(since).to_rfc3339_opts(SecondsFormat::Millis, true);
            json!({ "status": "down", "error": error, "since": since })
        }
        Status::Starting | Status::Up { .. } => json!({ "status": "down", "error": error.to_string() }),
    })
}
