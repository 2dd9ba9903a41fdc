//! The admin UI under `/app`: server-rendered pages (minijinja templates from `templates/`, embedded), plain links
//! and forms that work without JavaScript. Every page and action goes through the same services as the API; the
//! policy (`auth::authorize`) only decides which buttons show, the services decide what is allowed.
//!
//! The frame: [`Ui`] is the signed-in caller (anonymous callers are sent to the sign-in page), [`Posted`] a form
//! whose CSRF token was checked, [`UiError`] an error page in the UI's look; flash messages travel in a
//! short-lived cookie and the theme in another.

mod bulk;
mod clicks;
mod frame;
mod links;
mod qr;
mod sign_in;
mod tokens;
mod users;

use poem::{Endpoint, EndpointExt, Response, Route, get, post};

pub use frame::{Flash, Posted, Theme, Ui, UiError};

/// `/app/*`.
pub fn routes() -> impl Endpoint<Output = Response> {
    Route::new()
        .at("/", get(links::home))
        .at("/sign-in", get(sign_in::page))
        .at("/theme", post(frame::set_theme))
        .at("/links", get(links::list))
        .at("/shorten", get(links::shorten_form).post(links::shorten))
        .at("/links/:slug", get(links::detail))
        .at("/links/:slug/edit", get(links::edit_form).post(links::edit))
        .at("/links/:slug/delete", get(links::delete_form).post(links::delete))
        .at("/links/:slug/clicks.csv", get(clicks::csv))
        .at("/links/:slug/qr.svg", get(links::qr_svg))
        .at("/links/:slug/qr.png", get(links::qr_png))
        .at("/bulk", get(bulk::page).post(bulk::shorten))
        .at("/bulk/results.csv", post(bulk::results_csv))
        .at("/users", get(users::list))
        .at("/users/:id", get(users::detail).post(users::edit))
        .at("/tokens", get(tokens::page).post(tokens::create))
        .at("/tokens/:id/revoke", post(tokens::revoke))
        .at("/*rest", frame::not_found)
        .around(frame::error_pages)
}
