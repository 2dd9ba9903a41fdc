//! Blink: a fast, safe, self-hosted link shortener.
//!
//! A request flows from [`http::app`] (routing and middleware) to the domain and on to [`store::Store`].

pub mod analytics;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod http;
pub mod links;
pub mod nats;
pub mod plugins;
pub mod ratelimit;
pub mod redis;
pub mod scrape;
pub mod server;
pub mod state;
pub mod storage;
pub mod store;
pub mod telemetry;
pub mod users;

pub use http::app;
