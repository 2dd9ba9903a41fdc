//! The one mapping from everything that can go wrong in the API to an HTTP status and a problem+json body.

use poem::http::StatusCode;
use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;

use crate::auth::{AuthError, Denied};
use crate::http::problem::Problem;
use crate::links::LinkError;
use crate::store::StoreError;

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

    fn unavailable(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "API request failed on a dependency");
        Self::Unavailable(Json(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "A dependency is unavailable; try again shortly.",
        )))
    }
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
            AuthError::Unavailable(message) => {
                Self::Unavailable(Json(Problem::new(StatusCode::SERVICE_UNAVAILABLE, message)))
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::unavailable(error)
    }
}

impl From<LinkError> for ApiError {
    fn from(error: LinkError) -> Self {
        let message = error.to_string();
        match error {
            LinkError::Target(_) | LinkError::Denied(_) => Self::invalid_field("originalUrl", message),
            LinkError::Slug(_) | LinkError::SlugRefused(_) => Self::invalid_field("hash", message),
            LinkError::SlugTaken(_) => {
                Self::Conflict(Json(Problem::invalid_field(StatusCode::CONFLICT, "hash", message)))
            }
            LinkError::NotFound(_) => Self::not_found(message),
            LinkError::Hook(_) | LinkError::Store(_) => Self::unavailable(message),
        }
    }
}
