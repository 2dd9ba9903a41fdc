//! Command implementations behind `blink`'s subcommands (the argument parsing lives in `main.rs`).

pub mod healthcheck;
pub mod links;
pub mod tokens;
pub mod transfer;
pub mod users;
