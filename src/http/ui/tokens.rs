//! `/app/tokens`: one's personal API tokens: create (the token is shown once), list, revoke. The rules are the
//! `TokenService`'s, shared with `blink tokens`.

use chrono::Utc;
use minijinja::value::Serde;
use minijinja::{Value, context};
use poem::http::StatusCode;
use poem::web::Path;
use poem::{Response, handler};
use serde::Serialize;

use super::frame::{Flash, Posted, Ui, UiError, field_errors, see_other_with, sentence};
use super::links::when;
use crate::auth::token_service::status;
use crate::auth::{TokenError, TokenRecord, TokenRequest};

/// The name of a token given none.
const DEFAULT_NAME: &str = "web";

/// The scope checkboxes: (scope, label).
const SCOPES: &[(&str, &str)] = &[
    ("link:read", "Read links"),
    ("link:create", "Create links"),
    ("link:update", "Change links"),
    ("link:delete", "Delete links"),
    ("user:read", "Read users"),
    ("user:update", "Change users"),
];

/// The lifetimes offered: (value, label); the value is a duration the service parses.
const EXPIRIES: &[(&str, &str)] =
    &[("", "Never"), ("7 days", "7 days"), ("30 days", "30 days"), ("90 days", "90 days"), ("365 days", "1 year")];

#[derive(Serialize)]
struct TokenView {
    id: i64,
    name: String,
    prefix: String,
    scopes: String,
    status: &'static str,
    created: String,
    last_used: String,
    expires: String,
}

impl From<&TokenRecord> for TokenView {
    fn from(token: &TokenRecord) -> Self {
        Self {
            id: token.id,
            name: token.name.clone(),
            prefix: token.token_prefix.clone(),
            scopes: token.scopes.clone(),
            status: status(token, Utc::now()),
            created: when(Some(token.created_at)),
            last_used: token.last_used_at.map_or_else(|| "never".to_owned(), |at| when(Some(at))),
            expires: token.expires_at.map_or_else(|| "never".to_owned(), |at| when(Some(at))),
        }
    }
}

async fn tokens_page(ui: &Ui, status: StatusCode, values: Value, errors: Value) -> poem::Result<Response> {
    let tokens = ui.state.tokens.list(&ui.caller, Some(&ui.me.id)).await.map_err(UiError::from)?;
    let tokens: Vec<TokenView> = tokens.iter().rev().map(TokenView::from).collect();
    let scopes: Vec<Value> =
        SCOPES.iter().map(|(value, label)| context! { value => *value, label => *label }).collect();
    let expiries: Vec<Value> =
        EXPIRIES.iter().map(|(value, label)| context! { value => *value, label => *label }).collect();
    Ok(ui.render_status(
        status,
        "tokens.html",
        "tokens",
        context! { tokens => Serde(&tokens), scopes => scopes, expiries => expiries, values => values, errors => errors },
    ))
}

/// `GET /app/tokens`.
#[handler]
pub async fn page(ui: Ui) -> poem::Result<Response> {
    tokens_page(
        &ui,
        StatusCode::OK,
        context! { name => "", scopes => Vec::<String>::new(), expires => "" },
        context! {},
    )
    .await
}

/// `POST /app/tokens` (`name`, `scope` repeated, `expires`): the new token, shown this once.
#[handler]
pub async fn create(ui: Ui, form: Posted) -> poem::Result<Response> {
    let scopes = form.all("scope");
    let request = TokenRequest {
        scopes: scopes.join(" "),
        name: form.text("name").map(str::to_owned),
        expires: form.text("expires").map(str::to_owned),
    };
    let created = match request.check(DEFAULT_NAME, Utc::now()) {
        Ok(spec) => ui.state.tokens.create(&ui.caller, &ui.me.id, spec).await,
        Err(error) => Err(error),
    };
    match created {
        Ok(created) => Ok(ui.render(
            "token_created.html",
            "tokens",
            context! { token => created.plain, record => Serde(TokenView::from(&created.record)) },
        )),
        Err(error) => match error.field() {
            Some(field) => {
                let message = match &error {
                    TokenError::Scopes(_) if scopes.is_empty() => "Choose at least one scope.".to_owned(),
                    other => sentence(&other.to_string()),
                };
                let values = context! {
                    name => form.get("name").unwrap_or_default().to_owned(),
                    scopes => scopes.iter().map(|scope| (*scope).to_owned()).collect::<Vec<_>>(),
                    expires => form.get("expires").unwrap_or_default().to_owned(),
                };
                let errors = field_errors(field, message);
                tokens_page(&ui, StatusCode::UNPROCESSABLE_ENTITY, values, errors).await
            }
            None => Err(UiError::from(error).into()),
        },
    }
}

/// `POST /app/tokens/{id}/revoke`.
#[handler]
pub async fn revoke(ui: Ui, Path(id): Path<i64>, _form: Posted) -> poem::Result<Response> {
    let revoked = ui.state.tokens.revoke(&ui.caller, id).await.map_err(UiError::from)?;
    let text = format!("Token “{}” ({}…) revoked.", revoked.record.name, revoked.record.token_prefix);
    Ok(see_other_with("/app/tokens", &Flash::success(text)))
}
