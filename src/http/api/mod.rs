//! The REST API under `/api`: Node Blink's resources, described by an OpenAPI document generated from this
//! code (`/api/openapi.json`, interactive at `/api/docs`). Every error is problem+json.

// An `ApiError` is built at most once per request and holds a problem body; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod docs;
mod error;
mod links;
mod list;
mod stats;
mod text;
mod users;

use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route, get};
use poem_openapi::{OpenApiService, Tags};

use crate::auth::Caller;
use crate::http::middleware::RequestId;
use crate::http::problem::{self, Problem};

pub use error::ApiError;

#[derive(Tags)]
enum Tag {
    /// Short links.
    Links,
    /// People who sign in, and the `api` superuser.
    Users,
}

type Apis = (links::LinksApi, stats::StatsApi, users::UsersApi);

/// The OpenAPI service describing every operation.
pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new((links::LinksApi, stats::StatsApi, users::UsersApi), "Blink", env!("CARGO_PKG_VERSION"))
        .description("The API of Blink, a self-hosted link shortener. Compatible with Node Blink's API.")
        .server("/api")
}

/// Request bodies that refuse unknown fields; the document says so (`additionalProperties: false`), which
/// poem-openapi leaves out.
const CLOSED_SCHEMAS: &[&str] = &["CreateLinkBody", "UpdateLinkBody", "UpdateUserBody", "MetaBody"];

/// The OpenAPI document as served: poem-openapi's, plus three facts it leaves out.
pub fn document() -> serde_json::Value {
    let mut spec: serde_json::Value = serde_json::from_str(&service().spec()).unwrap_or_default();
    declare_security(&mut spec);
    declare_negotiated_json(&mut spec);
    if let Some(schemas) = spec.pointer_mut("/components/schemas").and_then(|s| s.as_object_mut()) {
        for (name, schema) in schemas.iter_mut() {
            let Some(schema) = schema.as_object_mut() else { continue };
            if CLOSED_SCHEMAS.contains(&name.as_str()) {
                schema.insert("additionalProperties".into(), serde_json::Value::Bool(false));
            }
            mark_optional_nullable(schema);
        }
    }
    spec
}

/// Operations answering JSON, or another type on request (`Accept`), under one status: poem-openapi keeps only the
/// last content type of a status, so the JSON one is put back (path, status, schema).
const NEGOTIATED: &[(&str, &str, &str)] = &[("/links/{id}/stats", "200", "StatsBody")];

fn declare_negotiated_json(spec: &mut serde_json::Value) {
    for (path, status, schema) in NEGOTIATED {
        let pointer = format!("/paths/{}/get/responses/{status}/content", path.replace('/', "~1"));
        if let Some(content) = spec.pointer_mut(&pointer).and_then(|c| c.as_object_mut()) {
            let json = serde_json::json!({ "schema": { "$ref": format!("#/components/schemas/{schema}") } });
            content.insert("application/json; charset=utf-8".into(), json);
        }
    }
}

/// Every operation needs a caller (anonymous ones get 401, unless `[api] public_read` lets them read links): an API
/// token or OAuth2 JWT as a bearer token, or the admin UI's session cookie.
fn declare_security(spec: &mut serde_json::Value) {
    let Some(document) = spec.as_object_mut() else { return };
    let schemes = serde_json::json!({
        "bearer": { "type": "http", "scheme": "bearer", "description": "A personal API token (`blink_…`) or an OAuth2 JWT." },
        "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::sessions::COOKIE,
                     "description": "The admin UI's session; requests that change something also need `X-CSRF-Token`." },
    });
    let components = document.entry("components").or_insert_with(|| serde_json::json!({}));
    if let Some(components) = components.as_object_mut() {
        components.insert("securitySchemes".into(), schemes);
    }
    document.insert("security".into(), serde_json::json!([{ "bearer": [] }, { "session": [] }]));
}

/// Optional properties accept (and may answer) `null`, which OpenAPI 3.0 must be told with `nullable`.
fn mark_optional_nullable(schema: &mut serde_json::Map<String, serde_json::Value>) {
    let required: Vec<String> = schema
        .get("required")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) else { return };
    for (name, property) in properties.iter_mut() {
        if required.contains(name) {
            continue;
        }
        if let Some(reference) = property.get("$ref").cloned() {
            // `nullable` beside a `$ref` is ignored in 3.0; wrap the reference instead.
            *property = serde_json::json!({ "allOf": [{ "$ref": reference }], "nullable": true });
        } else if let Some(property) = property.as_object_mut() {
            property.insert("nullable".into(), serde_json::Value::Bool(true));
        }
    }
}

/// `/api/*`, with every error turned into problem+json.
pub fn routes() -> impl Endpoint<Output = Response> {
    let service = service();
    let document = document();
    let allowed = Arc::new(allowed_methods(&document));
    let spec = poem::endpoint::make_sync(move |_| poem::web::Json(document.clone()));
    Route::new()
        .at("/openapi.json", spec)
        .at("/docs", get(docs::page).head(docs::page))
        .nest("/", service)
        .catch_all_error(as_problem)
        .around(move |endpoint, req| {
            let allowed = allowed.clone();
            async move {
                let path = req.uri().path().trim_start_matches("/api").to_owned();
                let request_id = req.data::<RequestId>().map(|id| id.as_str().to_owned()).unwrap_or_default();
                let mut response = error::with_request_id(request_id, endpoint.call(req)).await?;
                if response.status() == StatusCode::METHOD_NOT_ALLOWED
                    && let Some(methods) = allowed.iter().find(|(template, _)| matches_template(template, &path))
                {
                    // RFC 9110: a 405 lists what the resource does allow.
                    if let Ok(value) = HeaderValue::from_str(&methods.1) {
                        response.headers_mut().insert(poem::http::header::ALLOW, value);
                    }
                }
                Ok(response)
            }
        })
}

/// Each documented path template with the methods it serves, e.g. `("/links/{id}", "GET, PUT, DELETE")`.
fn allowed_methods(document: &serde_json::Value) -> Vec<(String, String)> {
    let Some(paths) = document.get("paths").and_then(|paths| paths.as_object()) else { return Vec::new() };
    paths
        .iter()
        .map(|(template, operations)| {
            let methods =
                operations.as_object().map(|ops| ops.keys().map(|m| m.to_ascii_uppercase()).collect::<Vec<_>>());
            (template.clone(), methods.unwrap_or_default().join(", "))
        })
        .collect()
}

fn matches_template(template: &str, path: &str) -> bool {
    let (mut template, mut path) = (template.split('/'), path.split('/'));
    loop {
        match (template.next(), path.next()) {
            (None, None) => return true,
            (Some(t), Some(p)) if t == p || (t.starts_with('{') && !p.is_empty()) => {}
            _ => return false,
        }
    }
}

/// Turns errors raised outside the operations' own `ApiError` (unparsable JSON, wrong types, unknown fields,
/// unknown routes, wrong methods, bodies over the limit) into problem+json that names the problem.
async fn as_problem(error: poem::Error) -> Response {
    let message = error.to_string();
    let response = error.into_response();
    let is_problem = response
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(problem::CONTENT_TYPE.as_bytes()));
    if is_problem {
        return response;
    }
    // A chunked body over the limit surfaces as a read error while parsing it.
    let status =
        if message.contains("length limit exceeded") { StatusCode::PAYLOAD_TOO_LARGE } else { response.status() };
    let status = if status.is_success() { StatusCode::BAD_REQUEST } else { status };
    Problem::new(status, message).into_response()
}

/// Refused credentials are 401 (or 503 when they could not be checked), even where anonymous callers are
/// welcome: a wrong token is a mistake to report. Whether the caller may do what it asks is the services' call.
fn refuse_bad_credentials(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Refused(error) => Err(error.clone().into()),
        _ => Ok(()),
    }
}
