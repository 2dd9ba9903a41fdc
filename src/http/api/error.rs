//! The one mapping from everything that can go wrong in the API to an HTTP status and a problem+json body.

use poem::http::StatusCode;
use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;

use crate::auth::{AuthError, Denied};
use crate::http::problem::Problem;
use crate::links::LinkError;
use crate::storage::StorageError;
use crate::users::UserError;

tokio::task_local! {
    /// The id of the API request being handled, for the log line and the body of a 5xx answer.
    static REQUEST_ID: String;
}

/// Runs `handling` with `request_id` as the current request's id.
pub async fn with_request_id<F: Future>(request_id: String, handling: F) -> F::Output {
    REQUEST_ID.scope(request_id, handling).await
}

/// Every error status an API operation can answer, each with a problem+json body.
#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// The request is malformed or names an unknown field.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Credentials are missing or were refused.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The caller may not do this.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such link or user.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// A unique value (a custom slug) is taken.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The body is larger than the server accepts.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body is not JSON (`Content-Type: application/json` is required).
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// The request is well-formed but its values are refused (bad URL, bad slug).
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Too many requests; see the RateLimit headers.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// A dependency (database, identity provider, plugin) is unavailable.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>),
    /// The target page did not answer in time (`require_reachable`).
    #[oai(status = 504, content_type = "application/problem+json")]
    GatewayTimeout(Json<Problem>),
    /// The database has no room left; nothing was stored.
    #[oai(status = 507, content_type = "application/problem+json")]
    InsufficientStorage(Json<Problem>),
}

impl ApiError {
    /// A 400 naming `field`.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        Self::BadRequest(Json(Problem::invalid_field(StatusCode::BAD_REQUEST, field, message)))
    }

    /// A 422 naming `field`.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::Unprocessable(Json(Problem::invalid_field(StatusCode::UNPROCESSABLE_ENTITY, field, message)))
    }

    /// A 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(Json(Problem::new(StatusCode::NOT_FOUND, what)))
    }

    /// A 503 with a message for the client; `cause` goes to the log only, with the request id the client sees.
    fn unavailable(message: &str, cause: &dyn std::fmt::Display) -> Self {
        Self::Unavailable(Json(server_problem(StatusCode::SERVICE_UNAVAILABLE, message, cause)))
    }
}

/// A 5xx problem: `message` and the request id for the client, `cause` for the log.
fn server_problem(status: StatusCode, message: &str, cause: &dyn std::fmt::Display) -> Problem {
    let request_id = REQUEST_ID.try_with(Clone::clone).ok();
    tracing::error!(request_id = request_id.as_deref().unwrap_or_default(), error = %cause, status = status.as_u16(),
        "API request failed");
    let detail = match &request_id {
        Some(id) => format!("{message} (request id {id})"),
        None => message.to_owned(),
    };
    Problem { request_id, ..Problem::new(status, detail) }
}

impl From<Denied> for ApiError {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Unauthenticated => Self::Unauthorized(
                Json(Problem::new(StatusCode::UNAUTHORIZED, denied.to_string())),
                "Bearer".to_owned(),
            ),
            Denied::Forbidden(_) | Denied::MissingScope(_) => {
                Self::Forbidden(Json(Problem::new(StatusCode::FORBIDDEN, denied.to_string())))
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Invalid(message) => Self::Unauthorized(
                Json(Problem::new(StatusCode::UNAUTHORIZED, message)),
                r#"Bearer error="invalid_token""#.to_owned(),
            ),
            AuthError::Unavailable { what, cause } => Self::unavailable(&format!("{what}; try again shortly"), &cause),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Full(_) => Self::InsufficientStorage(Json(server_problem(
                StatusCode::INSUFFICIENT_STORAGE,
                "The server has run out of storage space; nothing was stored",
                &error,
            ))),
            StorageError::Conflict(column) => {
                Self::Conflict(Json(Problem::new(StatusCode::CONFLICT, format!("{column} is already taken"))))
            }
            StorageError::Unavailable(_) => Self::unavailable("The database is unavailable; try again shortly", &error),
        }
    }
}

impl From<LinkError> for ApiError {
    fn from(error: LinkError) -> Self {
        let message = error.to_string();
        match error {
            LinkError::NotAllowed(denied) => denied.into(),
            LinkError::Target(_) | LinkError::Denied(_) => Self::invalid_field("originalUrl", message),
            LinkError::Slug(_) | LinkError::SlugRefused(_) => Self::invalid_field("hash", message),
            LinkError::Meta(_) => Self::invalid_field("meta", message),
            LinkError::Unreachable(page) => {
                let problem = |status| Json(Problem::invalid_field(status, "originalUrl", message));
                // Node Blink's answers: 504 when the page timed out, else 404.
                if page.timed_out {
                    Self::GatewayTimeout(problem(StatusCode::GATEWAY_TIMEOUT))
                } else {
                    Self::NotFound(problem(StatusCode::NOT_FOUND))
                }
            }
            LinkError::SlugTaken(_) | LinkError::AlreadyShortened { .. } => {
                Self::Conflict(Json(Problem::invalid_field(StatusCode::CONFLICT, "hash", message)))
            }
            LinkError::NotFound(_) => Self::not_found(message),
            LinkError::Hook(cause) => Self::unavailable(&cause.user_message(), &cause),
            LinkError::Store(error) => error.into(),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(error: UserError) -> Self {
        let message = error.to_string();
        match error {
            UserError::NotAllowed(denied) => denied.into(),
            UserError::NotFound(_) => Self::not_found(message),
            UserError::Invalid { field, message } => Self::invalid_field(field, message),
            UserError::LastSuperuser | UserError::DeactivatedSuperuser => {
                Self::Conflict(Json(Problem::new(StatusCode::CONFLICT, message)))
            }
            UserError::Store(error) => error.into(),
        }
    }
}
