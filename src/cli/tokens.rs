//! `blink tokens …`: create, list and revoke personal API tokens from a shell.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::links::Format;
use crate::auth::token_service::{CreatedToken, Revoked, status};
use crate::auth::{Caller, TokenError, TokenRecord, TokenRequest, TokenService};
use crate::store::Store;
use crate::users::UserStore;

/// The name a token gets when `--name` is not given.
const DEFAULT_NAME: &str = "cli";

/// What `blink tokens create` was asked for.
#[derive(Debug)]
pub struct CreateToken {
    /// The user the token acts as.
    pub user: String,
    /// Space-separated scopes, checked here.
    pub scopes: String,
    pub name: Option<String>,
    /// How long the token lives (`"90 days"`); forever when absent.
    pub expires: Option<String>,
    /// Create the user (role `user`) if it does not exist.
    pub create_user: bool,
}

/// One token as printed by `--json`; never the hash.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenOutput<'a> {
    id: i64,
    user_id: &'a str,
    name: &'a str,
    prefix: &'a str,
    scopes: Vec<&'a str>,
    /// `active`, `expired` or `revoked`.
    status: &'static str,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

fn output(token: &TokenRecord, now: DateTime<Utc>) -> TokenOutput<'_> {
    TokenOutput {
        id: token.id,
        user_id: &token.user_id,
        name: &token.name,
        prefix: &token.token_prefix,
        scopes: token.scopes.split_whitespace().collect(),
        status: status(token, now),
        created_at: token.created_at,
        last_used_at: token.last_used_at,
        expires_at: token.expires_at,
        revoked_at: token.revoked_at,
    }
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A token error as the command line words it (options named as typed).
fn message(error: TokenError) -> String {
    match error {
        TokenError::Expiry(error) => format!("--expires: {error}"),
        TokenError::NoTime(text) => {
            format!("--expires `{text}` is no time at all: give how long the token should work")
        }
        TokenError::TooFar(text) => format!("--expires `{text}` is too far in the future"),
        TokenError::Name(problem) => format!("--name {problem}"),
        other => other.to_string(),
    }
}

/// `blink tokens create --user ID --scopes "link:* user:read" [--name N] [--expires "90 days"] [--create-user]`.
pub async fn create(store: &Store, request: CreateToken, format: Format) -> Result<String, String> {
    let now = Utc::now();
    let spec = TokenRequest { scopes: request.scopes, name: request.name, expires: request.expires }
        .check(DEFAULT_NAME, now)
        .map_err(message)?;
    let user = match store.user(&request.user).await.map_err(|error| error.to_string())? {
        Some(user) => user,
        None if request.create_user => {
            // Named after its id: Node Blink's schema requires a name.
            store.ensure_user(&request.user, &request.user, now).await.map_err(|error| error.to_string())?
        }
        None => {
            return Err(format!(
                "no user has the id `{}` (pass --create-user to create it with the role `user`)",
                request.user
            ));
        }
    };
    if user.deactivated {
        return Err(format!("user `{}` is deactivated, so a token for it would not work", user.id));
    }
    let CreatedToken { plain, record: created } =
        service(store).create(&Caller::operator(), &user.id, spec).await.map_err(message)?;
    let warning = "copy the token now: it is not stored and will not be shown again";
    Ok(match format {
        Format::Json => {
            #[derive(Serialize)]
            struct Created<'a> {
                token: &'a str,
                warning: &'a str,
                #[serde(flatten)]
                record: TokenOutput<'a>,
            }
            json(&Created { token: &plain, warning, record: output(&created, now) })
        }
        Format::Text => {
            let expiry =
                created.expires_at.map_or_else(|| "never expires".to_owned(), |at| format!("expires {}", time(at)));
            format!(
                "{}\ntoken {} ({}) for user `{}`, scopes {}, {expiry}\nwarning: {warning}",
                plain, created.id, created.name, created.user_id, created.scopes
            )
        }
    })
}

fn service(store: &Store) -> TokenService {
    TokenService::new(Arc::new(store.clone()))
}

/// `blink tokens list [--user ID]`.
pub async fn list(store: &Store, user: Option<String>, format: Format) -> Result<String, String> {
    if let Some(user) = &user
        && store.user(user).await.map_err(|error| error.to_string())?.is_none()
    {
        return Err(format!("no user has the id `{user}`"));
    }
    let found = service(store).list(&Caller::operator(), user.as_deref()).await.map_err(message)?;
    let now = Utc::now();
    Ok(match format {
        Format::Json => json(&found.iter().map(|token| output(token, now)).collect::<Vec<_>>()),
        Format::Text if found.is_empty() => "no tokens".to_owned(),
        Format::Text => {
            let header = ["ID", "PREFIX", "USER", "NAME", "SCOPES", "CREATED", "LAST USED", "EXPIRES", "STATUS"];
            let never = || "never".to_owned();
            let rows: Vec<[String; 9]> = found
                .iter()
                .map(|token| {
                    [
                        token.id.to_string(),
                        token.token_prefix.clone(),
                        token.user_id.clone(),
                        token.name.clone(),
                        token.scopes.clone(),
                        time(token.created_at),
                        token.last_used_at.map_or_else(never, time),
                        token.expires_at.map_or_else(never, time),
                        status(token, now).to_owned(),
                    ]
                })
                .collect();
            table(&header, &rows)
        }
    })
}

/// Left-aligned columns two spaces apart.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut lines = vec![line(header.to_vec())];
    lines.extend(rows.iter().map(|row| line(row.iter().map(String::as_str).collect())));
    lines.join("\n")
}

/// `blink tokens revoke ID`: revoking a revoked token again changes nothing and succeeds.
pub async fn revoke(store: &Store, id: i64, format: Format) -> Result<String, String> {
    let now = Utc::now();
    let Revoked { record: token, newly } = service(store).revoke(&Caller::operator(), id).await.map_err(message)?;
    Ok(match format {
        Format::Json => {
            #[derive(Serialize)]
            #[serde(rename_all = "camelCase")]
            struct Revoked<'a> {
                already_revoked: bool,
                #[serde(flatten)]
                record: TokenOutput<'a>,
            }
            json(&Revoked { already_revoked: !newly, record: output(&token, now) })
        }
        Format::Text if newly => {
            format!("revoked token {} ({}) of user `{}`", token.id, token.token_prefix, token.user_id)
        }
        Format::Text => format!(
            "token {} ({}) of user `{}` was already revoked{}",
            token.id,
            token.token_prefix,
            token.user_id,
            token.revoked_at.map(|at| format!(" on {}", time(at))).unwrap_or_default()
        ),
    })
}
