//! The `blink` command line: serve, migrate, and inspect the configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use blink::config::{self, ConfigInput, LoadedConfig};
use blink::server;
use blink::store::{MigrationState, Store};

/// mimalloc rather than glibc's malloc, whose consolidation of freed chunks cost the redirect path time whenever
/// a click batch had just freed its many small strings (bench/README.md has the figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A fast, safe, self-hosted link shortener.
#[derive(Parser)]
#[command(name = "blink", version, about)]
struct Cli {
    /// Configuration file (default: $BLINK_CONFIG, else ./blink.toml if present).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate {
        /// List applied and pending migrations instead of applying them.
        #[arg(long)]
        status: bool,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Inspect WebAssembly plugins.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Create, list, show and delete links.
    Links {
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: LinksCommand,
    },
    /// Create, list and revoke personal API tokens.
    Tokens {
        /// Print JSON instead of text.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Users: sign-in links for a first trial or when the identity provider is down.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Ask the server on this machine (the configured port) whether it is alive; exit 0 if so, else 1.
    Healthcheck {
        /// Ask /readyz (database and Redis answer) instead of /healthz (the process answers).
        #[arg(long)]
        ready: bool,
        /// Seconds to wait for the connection and for the answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Print a single-use sign-in URL (BASE_URL/auth/link/…) valid for 10 minutes.
    LoginLink {
        /// The user to sign in (an existing user); without it, the local superuser `admin`, created if missing.
        #[arg(long)]
        user: Option<String>,
        /// Make the user a superuser first.
        #[arg(long)]
        superuser: bool,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Load a plugin component and list the hooks it implements and its interface version.
    Check {
        /// The component (`.wasm`).
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum LinksCommand {
    /// Shorten a URL (prints the existing link if it is already shortened).
    Create {
        /// The target URL.
        url: String,
        /// A custom (brand) slug as well as the automatic one.
        #[arg(long)]
        slug: Option<String>,
    },
    /// List links, newest first.
    List {
        /// Only links whose URL, slug or title contains this text.
        #[arg(long)]
        search: Option<String>,
        /// At most this many links.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one link.
    Show {
        /// Its automatic or brand slug.
        slug: String,
    },
    /// Delete a link.
    Delete {
        /// Its automatic or brand slug.
        slug: String,
    },
    /// Import links from a file (`-` for standard input): TOML `[[link]]` tables, CSV or JSON as `export` writes
    /// them, CSV exports of Shlink, YOURLS, Kutt or Bitly, or one URL per line. Slugs are kept.
    Import {
        /// The file.
        file: PathBuf,
        /// toml, csv, json or lines; by default from the file's extension (lines for anything else).
        #[arg(long)]
        format: Option<String>,
    },
    /// Write every link, oldest first, as TOML `[[link]]` tables (for blink.toml), CSV or JSON.
    Export {
        /// toml, csv or json.
        #[arg(long, default_value = "toml")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Show what reconciling blink.toml's [[link]] tables would do, and drift; exit 0 if nothing, 2 if something.
    Plan,
    /// Reconcile blink.toml's [[link]] tables with the database now (the server also does it at every start).
    Apply,
}

#[derive(Subcommand)]
enum TokensCommand {
    /// Create a token for a user and print it (once: only its hash is stored).
    Create {
        /// The user the token acts as.
        #[arg(long, value_name = "ID")]
        user: String,
        /// Space-separated `resource:action` scopes: `link` or `user`, `create`, `read`, `update` or `delete`, with
        /// `*` for a whole segment (`"link:* user:read"`).
        #[arg(long)]
        scopes: String,
        /// What the token is for.
        #[arg(long)]
        name: Option<String>,
        /// How long it works (`"90 days"`, `"1 year"`); forever when absent.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
        /// Create the user, with the role `user`, if it does not exist.
        #[arg(long)]
        create_user: bool,
    },
    /// List tokens (never the tokens themselves), oldest first.
    List {
        /// Only this user's tokens.
        #[arg(long, value_name = "ID")]
        user: Option<String>,
    },
    /// Revoke a token at once.
    Revoke {
        /// Its id, as `tokens list` shows it.
        id: i64,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print every effective value and where it came from (secrets redacted).
    Check,
    /// Print a blink.toml documenting every key at its default.
    Example,
    /// Print the configuration reference of README.md (a Markdown table of every key).
    Reference,
}

/// Exit code for configuration errors, distinct from runtime failures (1).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Config { command: ConfigCommand::Example }) => {
            print!("{}", config::example_toml());
            return ExitCode::SUCCESS;
        }
        Some(Command::Config { command: ConfigCommand::Reference }) => {
            print!("{}", config::reference_markdown());
            return ExitCode::SUCCESS;
        }
        Some(Command::Plugin { command: PluginCommand::Check { file } }) => return check_plugin(file),
        _ => {}
    }
    let loaded = match LoadedConfig::load(&ConfigInput::from_process(cli.config.clone())) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("blink: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Some(Command::Healthcheck { ready, timeout }) = &cli.command {
        return healthcheck(&loaded, *ready, *timeout);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("blink: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(loaded, cli.config)),
        Command::Migrate { status } => runtime.block_on(migrate(loaded, status)),
        Command::Config { command: ConfigCommand::Check } => {
            print!("{}", config::render_check(&loaded));
            let problems = blink::links::check_declared(&loaded.config, &blink::http::reserved_paths());
            if !problems.is_empty() {
                for problem in problems {
                    eprintln!("blink: {problem}");
                }
                return ExitCode::from(EXIT_CONFIG);
            }
            println!("configuration is valid");
            Ok(())
        }
        Command::Links { json, command: LinksCommand::Plan } => {
            return runtime.block_on(declared_links(loaded, false, json));
        }
        Command::Links { json, command: LinksCommand::Apply } => {
            return runtime.block_on(declared_links(loaded, true, json));
        }
        Command::Config { command: ConfigCommand::Example | ConfigCommand::Reference }
        | Command::Plugin { .. }
        | Command::Healthcheck { .. } => {
            unreachable!("handled before starting the runtime")
        }
        Command::Links { json, command } => runtime.block_on(links(loaded, command, json)),
        Command::Tokens { json, command } => runtime.block_on(tokens(loaded, command, json)),
        Command::Users { command } => runtime.block_on(users(loaded, command)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("blink: {message}");
            ExitCode::FAILURE
        }
    }
}

fn healthcheck(loaded: &LoadedConfig, ready: bool, timeout: u64) -> ExitCode {
    use blink::cli::healthcheck::{Probe, check};
    let probe = if ready { Probe::Ready } else { Probe::Live };
    match check(loaded.config.server.port, probe, std::time::Duration::from_secs(timeout.max(1))) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("blink: unhealthy: {problem}");
            ExitCode::FAILURE
        }
    }
}

fn check_plugin(file: &std::path::Path) -> ExitCode {
    match blink::plugins::check_component(file) {
        Ok(report) => {
            let hooks = report.hooks.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            println!("{}: blink:plugin@{}", file.display(), report.interface_version);
            println!("hooks: {hooks}");
            println!("imports: {}", report.imports.join(", "));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("blink: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(loaded: LoadedConfig, config_file: Option<PathBuf>) -> Result<(), String> {
    let _log_guard = blink::telemetry::init(&loaded.config.log);
    let port = loaded.config.server.port;
    let fail = |error: &dyn std::fmt::Display| {
        tracing::error!(%error, "blink cannot start");
        error.to_string()
    };
    let app = server::prepare(loaded.config).await.map_err(|e| fail(&e))?;
    server::apply_declared_links(&app).await.map_err(|e| fail(&e))?;
    #[cfg(unix)]
    server::reload_plugins_on_sighup(app.state.plugins.clone(), move || {
        LoadedConfig::load(&ConfigInput::from_process(config_file.clone()))
            .map(|loaded| loaded.config.plugins)
            .map_err(|error| error.to_string())
    });
    let listener = server::Listener::bind(port).await.map_err(|e| fail(&e))?;
    server::serve(listener, app, server::shutdown_signal()).await.map_err(|e| fail(&e))
}

async fn links(loaded: LoadedConfig, command: LinksCommand, json: bool) -> Result<(), String> {
    use blink::cli::links::{self, Format};
    let format = if json { Format::Json } else { Format::Text };
    let app = server::prepare(loaded.config).await.map_err(|e| e.to_string())?;
    let service = &app.state.links;
    let result = match command {
        LinksCommand::Create { url, slug } => links::create(service, url, slug, format).await,
        LinksCommand::List { search, limit } => links::list(service, search, limit, format).await,
        LinksCommand::Show { slug } => links::show(service, &slug, format).await,
        LinksCommand::Delete { slug } => links::delete(service, &slug, format).await,
        LinksCommand::Import { file, format: file_format } => import_links(service, &file, file_format, format).await,
        LinksCommand::Export { format: file_format, output } => export_links(service, &file_format, output).await,
        LinksCommand::Plan | LinksCommand::Apply => unreachable!("handled by declared_links"),
    };
    app.store.close().await;
    let text = result?;
    if !text.is_empty() {
        println!("{text}");
    }
    Ok(())
}

async fn import_links(
    service: &blink::links::LinkService,
    file: &std::path::Path,
    file_format: Option<String>,
    format: blink::cli::links::Format,
) -> Result<String, String> {
    use blink::cli::transfer::{self, FileFormat};
    let file_format = match file_format {
        Some(name) => {
            FileFormat::from_name(&name).ok_or_else(|| format!("unknown format `{name}`: toml, csv, json or lines"))?
        }
        None => FileFormat::of_path(file),
    };
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|error| format!("cannot read standard input: {error}"))?
    } else {
        std::fs::read_to_string(file).map_err(|error| format!("cannot read {}: {error}", file.display()))?
    };
    transfer::import(service, &text, file_format, format, server::shutdown_signal()).await
}

async fn export_links(
    service: &blink::links::LinkService,
    file_format: &str,
    output: Option<PathBuf>,
) -> Result<String, String> {
    use blink::cli::transfer::{self, FileFormat};
    let file_format = FileFormat::from_name(file_format)
        .filter(|format| *format != FileFormat::Lines)
        .ok_or_else(|| format!("unknown format `{file_format}`: toml, csv or json"))?;
    match output {
        Some(path) => {
            let file =
                std::fs::File::create(&path).map_err(|error| format!("cannot create {}: {error}", path.display()))?;
            let count = transfer::export(service, file_format, &mut std::io::BufWriter::new(file)).await?;
            Ok(format!("exported {count} links to {}", path.display()))
        }
        None => {
            transfer::export(service, file_format, &mut std::io::BufWriter::new(std::io::stdout().lock())).await?;
            Ok(String::new())
        }
    }
}

/// `blink links plan` (`apply` false) and `blink links apply`.
async fn declared_links(loaded: LoadedConfig, apply: bool, json: bool) -> ExitCode {
    let app = match server::prepare(loaded.config).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("blink: {error}");
            return ExitCode::FAILURE;
        }
    };
    let caller = blink::auth::Caller::operator();
    let result = if apply {
        app.state.links.apply_declared(&caller).await
    } else {
        app.state.links.plan_declared(&caller).await
    };
    app.store.close().await;
    let plan = match result {
        Ok(plan) => plan,
        Err(error) => {
            eprintln!("blink: {error}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!("{}", blink::cli::links::plan_json(&plan));
    } else {
        println!("{}", plan.render());
    }
    match (apply, plan.problems.is_empty(), plan.has_work()) {
        (true, true, _) => ExitCode::SUCCESS,
        (true, false, _) => ExitCode::FAILURE,
        (false, _, false) => ExitCode::SUCCESS,
        // Something to do: a deployment pipeline can gate on it.
        (false, _, true) => ExitCode::from(2),
    }
}

async fn tokens(loaded: LoadedConfig, command: TokensCommand, json: bool) -> Result<(), String> {
    use blink::cli::links::Format;
    use blink::cli::tokens::{self, CreateToken};
    let format = if json { Format::Json } else { Format::Text };
    let app = server::prepare(loaded.config).await.map_err(|e| e.to_string())?;
    let store = &app.store;
    let result = match command {
        TokensCommand::Create { user, scopes, name, expires, create_user } => {
            tokens::create(store, CreateToken { user, scopes, name, expires, create_user }, format).await
        }
        TokensCommand::List { user } => tokens::list(store, user, format).await,
        TokensCommand::Revoke { id } => tokens::revoke(store, id, format).await,
    };
    store.close().await;
    let text = result?;
    println!("{text}");
    Ok(())
}

async fn users(loaded: LoadedConfig, command: UsersCommand) -> Result<(), String> {
    use blink::cli::users::{self, LoginLinkRequest};
    let base_url = loaded.config.server.base_url.clone();
    let app = server::prepare(loaded.config).await.map_err(|e| e.to_string())?;
    let result = match command {
        UsersCommand::LoginLink { user, superuser } => {
            users::login_link(&app.store, &base_url, LoginLinkRequest { user, superuser }).await
        }
    };
    app.store.close().await;
    println!("{}", result?);
    Ok(())
}

async fn migrate(loaded: LoadedConfig, status_only: bool) -> Result<(), String> {
    let store = Store::connect(&loaded.config.database).await.map_err(|e| e.to_string())?;
    if !status_only {
        store.ensure_writable().await.map_err(|e| e.to_string())?;
        let applied = store.migrate().await.map_err(|e| e.to_string())?;
        println!("applied {applied} migration(s)");
    }
    if let Some(adoption) = store.adoption().await.map_err(|e| e.to_string())? {
        println!(
            "adopted from Node Blink on {} (knex migrations up to {}; {} links, {} users then)",
            adoption.adopted_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            adoption.knex_migration,
            adoption.links,
            adoption.users
        );
    }
    for migration in store.migration_status().await.map_err(|e| e.to_string())? {
        let state = match migration.state {
            MigrationState::Applied => "applied",
            MigrationState::Pending => "pending",
            MigrationState::Modified => "MODIFIED since it was applied",
        };
        println!("{:04} {:<40} {state}", migration.version, migration.description);
    }
    store.close().await;
    Ok(())
}
