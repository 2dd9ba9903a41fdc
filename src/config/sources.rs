//! The layers of the configuration and how each one names where a value came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};

use super::keys::{self, KeyDoc};
use super::{Config, ConfigError};

/// `.env` files read from the working directory, later ones winning, as Node Blink's dotenv-flow did.
pub const DOTENV_FILES: &[&str] = &[".env", ".env.local", ".env.production", ".env.production.local"];

/// What the configuration is loaded from: an optional explicit file, a directory and an environment.
#[derive(Clone, Debug, Default)]
pub struct ConfigInput {
    /// `--config PATH`, which must exist when given.
    pub config_file: Option<PathBuf>,
    /// Where `blink.toml` and the `.env` files are looked for.
    pub dir: PathBuf,
    /// The process environment (a map so tests need not touch the real one).
    pub env: BTreeMap<String, String>,
}

impl ConfigInput {
    /// Reads the real environment and the current directory.
    pub fn from_process(config_file: Option<PathBuf>) -> Self {
        Self { config_file, dir: PathBuf::from("."), env: std::env::vars().collect() }
    }
}

/// Builds the merged figment of all four layers.
pub fn figment(input: &ConfigInput) -> Result<Figment, ConfigError> {
    let mut dotenv_layers = Vec::new();
    for name in DOTENV_FILES {
        let path = input.dir.join(name);
        if path.is_file() {
            dotenv_layers.push(EnvLayer::new(EnvOrigin::DotEnv(path.clone()), read_dotenv(&path)?));
        }
    }
    let process_layer = EnvLayer::new(EnvOrigin::Process, input.env.clone().into_iter().collect());

    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = config_file(input, &dotenv_layers) {
        if !path.is_file() {
            return Err(ConfigError::MissingFile(path));
        }
        figment = figment.merge(Toml::file(path));
    }
    for layer in dotenv_layers {
        figment = figment.merge(layer);
    }
    Ok(figment.merge(process_layer))
}

/// `--config`, else `BLINK_CONFIG` (environment, then `.env` files), else `./blink.toml` if present.
fn config_file(input: &ConfigInput, dotenv_layers: &[EnvLayer]) -> Option<PathBuf> {
    if let Some(path) = &input.config_file {
        return Some(path.clone());
    }
    let from_env = input
        .env
        .get("BLINK_CONFIG")
        .cloned()
        .or_else(|| dotenv_layers.iter().rev().find_map(|layer| layer.raw.get("BLINK_CONFIG").cloned()));
    if let Some(path) = from_env.filter(|path| !path.is_empty()) {
        return Some(input.dir.join(path));
    }
    let default = input.dir.join("blink.toml");
    default.is_file().then_some(default)
}

fn read_dotenv(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let error = |message: String| ConfigError::DotEnv { path: path.to_owned(), message };
    dotenvy::from_path_iter(path)
        .map_err(|e| error(e.to_string()))?
        .map(|item| item.map_err(|e| error(e.to_string())))
        .collect()
}

#[derive(Clone, Debug)]
enum EnvOrigin {
    Process,
    DotEnv(PathBuf),
}

/// One layer of environment variables (the process's, or one `.env` file's), mapped onto config keys.
struct EnvLayer {
    origin: EnvOrigin,
    raw: BTreeMap<String, String>,
    /// config key -> (variable that set it, value); the later variable wins where several name one key.
    mapped: BTreeMap<String, (String, String)>,
}

impl EnvLayer {
    fn new(origin: EnvOrigin, vars: Vec<(String, String)>) -> Self {
        let raw: BTreeMap<String, String> = vars.into_iter().collect();
        let mut mapped = BTreeMap::new();
        // Node names first, in the catalogue's order, so `BLINK_SECTION__KEY` (more specific) wins over them.
        for doc in keys::KEYS {
            for var in doc.env {
                if let Some(value) = raw.get(*var).filter(|value| !value.is_empty()) {
                    mapped.insert(doc.key.to_owned(), ((*var).to_owned(), value.clone()));
                }
            }
        }
        for (var, value) in &raw {
            let Some(path) = var.strip_prefix("BLINK_").filter(|rest| rest.contains("__")) else { continue };
            if value.is_empty() {
                continue;
            }
            mapped.insert(path.to_ascii_lowercase().replace("__", "."), (var.clone(), value.clone()));
        }
        Self { origin, raw, mapped }
    }
}

impl Provider for EnvLayer {
    fn metadata(&self) -> Metadata {
        let names: Arc<BTreeMap<String, String>> =
            Arc::new(self.mapped.iter().map(|(key, (var, _))| (key.clone(), var.clone())).collect());
        let metadata = match &self.origin {
            EnvOrigin::Process => Metadata::named("environment variable"),
            EnvOrigin::DotEnv(path) => Metadata::named("file").source(Source::File(path.clone())),
        };
        metadata.interpolater(move |_: &Profile, path: &[&str]| {
            let key = path.join(".");
            names.get(&key).cloned().unwrap_or_else(|| keys::blink_env_name(&key))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, (_, value)) in &self.mapped {
            merge_into(&mut dict, figment::util::nest(key, Value::from(value.clone())));
        }
        Ok(Profile::Default.collect(dict))
    }
}

fn merge_into(dict: &mut Dict, nested: Value) {
    let Value::Dict(_, nested) = nested else { return };
    for (key, value) in nested {
        match (dict.get_mut(&key), value) {
            (Some(Value::Dict(_, existing)), Value::Dict(tag, inner)) => merge_into(existing, Value::Dict(tag, inner)),
            (_, value) => {
                dict.insert(key, value);
            }
        }
    }
}

/// Says where `key`'s value came from, e.g. `environment variable PORT` or `blink.toml (./blink.toml)`.
pub fn origin(figment: &Figment, key: &str) -> String {
    match figment.find_metadata(key) {
        Some(metadata) => describe(metadata, key),
        None => "default".to_owned(),
    }
}

fn describe(metadata: &Metadata, key: &str) -> String {
    let path: Vec<&str> = key.split('.').collect();
    match (&metadata.source, metadata.name.as_ref()) {
        (_, "environment variable") => {
            format!("environment variable {}", metadata.interpolate(&Profile::Default, &path))
        }
        (Some(Source::File(file)), "file") => {
            format!("{} ({})", file.display(), metadata.interpolate(&Profile::Default, &path))
        }
        (Some(Source::File(file)), _) => format!("{}", file.display()),
        (None | Some(Source::Code(_)), _) => "default".to_owned(),
        (Some(source), _) => source.to_string(),
    }
}

/// Builds the one-line error for a key with an unusable value.
pub fn invalid(figment: &Figment, key: &str, problem: String) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), origin: origin(figment, key), problem, example: example(key) }
}

fn example(key: &str) -> String {
    match keys::find(key) {
        Some(KeyDoc { env: [var, ..], example, .. }) => format!(" (for example {var}={example})"),
        Some(KeyDoc { example, .. }) => format!(" (for example {}={example})", keys::blink_env_name(key)),
        None => String::new(),
    }
}

/// Turns figment's extraction error into Blink's message naming key, source, problem and an example.
pub fn explain(figment: &Figment, error: figment::Error) -> ConfigError {
    use figment::error::Kind;
    let mut path = error.path.clone();
    let problem = match &error.kind {
        Kind::UnknownField(field, expected) => {
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            let known = expected.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ");
            format!("unknown key; known keys here are {known}")
        }
        kind => kind.to_string(),
    };
    let key = path.join(".");
    let origin =
        error.metadata.as_ref().map(|metadata| describe(metadata, &key)).unwrap_or_else(|| origin(figment, &key));
    let key = if key.is_empty() { "(top level)".to_owned() } else { key };
    ConfigError::Invalid { example: example(&key), key, origin, problem }
}
