//! The benchmark's ceiling: the least a poem server can do per request, a fixed 301. Blink's cached redirects
//! are measured against it on the same machine (`bench/run.sh`).

use poem::http::StatusCode;
use poem::http::header::LOCATION;
use poem::listener::TcpListener;
use poem::{Response, Route, Server, get, handler};

#[handler]
fn fixed_redirect() -> Response {
    Response::builder().status(StatusCode::MOVED_PERMANENTLY).header(LOCATION, "https://example.com/").finish()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3200".into());
    let app = Route::new().at("/:slug", get(fixed_redirect));
    Server::new(TcpListener::bind(format!("127.0.0.1:{port}"))).run(app).await
}
