//! RFC 9457 problem details, the one error body every JSON endpoint answers with.

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use serde::Serialize;

/// The content type of problem bodies.
pub const CONTENT_TYPE: &str = "application/problem+json";

/// One invalid field of a request, in a problem's `errors`.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct FieldError {
    /// The field, in the request's JSON naming (`originalUrl`, `hash`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An `application/problem+json` body.
#[derive(Clone, Debug, Serialize, poem_openapi::Object)]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    #[oai(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// Per-field validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldError>>,
    /// The request's id (as in `X-Request-Id`), on server errors: quote it when reporting the problem.
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    #[oai(rename = "requestId", skip_serializing_if_is_none)]
    pub request_id: Option<String>,
}

impl Problem {
    /// A problem for `status` with an explanation.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: Some(detail.into()),
            errors: None,
            request_id: None,
        }
    }

    /// A validation problem naming the offending field.
    pub fn invalid_field(status: StatusCode, field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            errors: Some(vec![FieldError { field: field.to_owned(), message: message.clone() }]),
            ..Self::new(status, format!("`{field}`: {message}"))
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        Response::builder().status(status).content_type(CONTENT_TYPE).body(body)
    }
}
