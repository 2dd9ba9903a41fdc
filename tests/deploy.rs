//! Deployment: `blink healthcheck`, the Dockerfile's run steps on the host (no Docker engine here), and the
//! structure of docker-compose.yml.
//!
//! The Dockerfile test runs the binary named by `BLINK_DOCKERFILE_BINARY` when set (scripts/dockerfile-on-host
//! sets it to the release binary its build step made, as the image's build stage makes it), else the test build.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestDb;
use common::process::{Running, blink};
use serde::Deserialize;
use serde_yaml::Value as Yaml;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `blink healthcheck` with `PORT=port`, in an empty directory.
fn healthcheck(port: u16, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([("PORT", port.to_string())]);
    let mut all = vec!["healthcheck"];
    all.extend_from_slice(args);
    blink(dir.path(), &env, &all).output().unwrap()
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn healthcheck_exits_0_when_blink_answers_on_the_configured_port() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let mut server = Running::start(dir.path(), &BTreeMap::from([("DATABASE_URL", db.url.clone())]));
    let live = healthcheck(server.port, &[]);
    assert!(live.status.success(), "{live:?}");
    assert!(String::from_utf8_lossy(&live.stdout).contains("/healthz: 200"), "{live:?}");
    let ready = healthcheck(server.port, &["--ready"]);
    assert!(ready.status.success(), "{ready:?}");
    assert!(String::from_utf8_lossy(&ready.stdout).contains("/readyz: 200"), "{ready:?}");
    server.terminate();
    assert!(server.wait().success());
}

#[test]
fn healthcheck_exits_1_naming_the_port_when_nothing_listens() {
    let port = free_port();
    let output = healthcheck(port, &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nothing answers") && stderr.contains(&format!("port {port}")), "{stderr}");
}

#[test]
fn healthcheck_exits_1_when_the_port_is_something_other_than_blink() {
    // Another program on the configured port: it speaks first and not HTTP, like an SSH or database server.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let other = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").unwrap();
        let mut request = [0u8; 512];
        let _ = stream.read(&mut request);
    });
    let output = healthcheck(port, &[]);
    other.join().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not HTTP") && stderr.contains("SSH-2.0"), "{stderr}");
}

#[test]
fn healthcheck_exits_1_on_an_http_server_that_is_not_healthy() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let other = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 512];
        let _ = stream.read(&mut request);
        stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found").unwrap();
    });
    let output = healthcheck(port, &[]);
    other.join().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("404 not found"), "{output:?}");
}

/// One instruction of a Dockerfile: its keyword and its arguments, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

fn dockerfile() -> Vec<Instruction> {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(continued) = trimmed.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let (keyword, args) = pending.split_once(' ').unwrap_or((&pending, ""));
        instructions.push(Instruction { keyword: keyword.to_ascii_uppercase(), args: args.trim().to_owned() });
        pending.clear();
    }
    instructions
}

/// The instructions of the last stage (the image that runs).
fn runtime_stage(instructions: &[Instruction]) -> &[Instruction] {
    let last_from = instructions.iter().rposition(|i| i.keyword == "FROM").expect("a FROM");
    &instructions[last_from..]
}

/// An exec-form (JSON array) argument list.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|_| panic!("exec form (a JSON array) expected, not {args}"))
}

/// `ENV A=1 B=2` as pairs.
fn env_pairs(args: &str) -> Vec<(String, String)> {
    args.split_whitespace()
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("ENV NAME=value");
            (name.to_owned(), value.trim_matches('"').to_owned())
        })
        .collect()
}

#[test]
fn the_image_is_multi_stage_non_root_labelled_and_checks_its_health_with_blink_healthcheck() {
    let instructions = dockerfile();
    let stages = instructions.iter().filter(|i| i.keyword == "FROM").count();
    assert!(stages >= 2, "a build stage and a runtime stage");
    // Dependencies are built before the sources are copied, so a source change keeps that layer.
    let first_build = instructions.iter().position(|i| i.keyword == "RUN" && i.args.contains("cargo build")).unwrap();
    let copy_src = instructions.iter().position(|i| i.keyword == "COPY" && i.args.starts_with("src ")).unwrap();
    assert!(first_build < copy_src, "dependencies are compiled before src/ is copied");
    for embedded in ["migrations", "assets", "templates", "plugins/wit"] {
        assert!(
            instructions.iter().any(|i| i.keyword == "COPY" && i.args.starts_with(&format!("{embedded} "))),
            "the build stage copies {embedded}, which the binary embeds"
        );
    }
    let runtime = runtime_stage(&instructions);
    let user = runtime.iter().rfind(|i| i.keyword == "USER").expect("a USER").args.clone();
    assert!(!["root", "0", "0:0"].contains(&user.as_str()), "runs as {user}");
    let healthcheck = runtime.iter().find(|i| i.keyword == "HEALTHCHECK").expect("a HEALTHCHECK");
    let command = healthcheck.args.split_once("CMD ").expect("HEALTHCHECK … CMD").1;
    assert_eq!(exec_form(command), ["blink", "healthcheck"], "no shell, no curl");
    let labels = runtime.iter().filter(|i| i.keyword == "LABEL").map(|i| i.args.as_str()).collect::<String>();
    for label in ["title", "description", "version", "revision", "licenses", "source"] {
        assert!(labels.contains(&format!("org.opencontainers.image.{label}=")), "OCI label {label}");
    }
    let env: BTreeMap<_, _> = runtime.iter().filter(|i| i.keyword == "ENV").flat_map(|i| env_pairs(&i.args)).collect();
    assert_eq!(env.get("PORT").map(String::as_str), Some("3000"));
    assert_eq!(env.get("AUTO_MIGRATE").map(String::as_str), Some("1"));
    let expose = runtime.iter().find(|i| i.keyword == "EXPOSE").expect("EXPOSE");
    assert_eq!(expose.args, "3000");
}

/// The binary the Dockerfile's steps run: the release build of scripts/dockerfile-on-host, or the test build.
fn image_binary() -> PathBuf {
    std::env::var_os("BLINK_DOCKERFILE_BINARY")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_blink")), PathBuf::from)
}

/// The runtime stage's `ENTRYPOINT` + `args`, as the container would run it, with the image's `ENV` and `overrides`.
fn image_command(dir: &Path, entrypoint: &[String], args: &[String], env: &BTreeMap<String, String>) -> Command {
    assert_eq!(entrypoint.first().map(String::as_str), Some("blink"), "the entrypoint is the blink binary");
    let mut command = Command::new(image_binary());
    command.args(&entrypoint[1..]).args(args).current_dir(dir).env_clear().envs(env);
    command
}

/// The steps a container of the image goes through, run on the host: `blink migrate` (the one-off command), the
/// default command (`serve`), the HEALTHCHECK's command until healthy, then SIGTERM as `docker stop` sends it.
fn run_image_steps(db: &TestDb) {
    let instructions = dockerfile();
    let runtime = runtime_stage(&instructions);
    let entrypoint = exec_form(&runtime.iter().rfind(|i| i.keyword == "ENTRYPOINT").expect("ENTRYPOINT").args);
    let cmd = exec_form(&runtime.iter().rfind(|i| i.keyword == "CMD").expect("CMD").args);
    let health = runtime.iter().find(|i| i.keyword == "HEALTHCHECK").expect("HEALTHCHECK");
    let health = exec_form(health.args.split_once("CMD ").expect("CMD").1);
    let dir = tempfile::tempdir().unwrap();
    let mut env: BTreeMap<String, String> =
        runtime.iter().filter(|i| i.keyword == "ENV").flat_map(|i| env_pairs(&i.args)).collect();
    // What `docker run -e DATABASE_URL=…` would set; the image's own default path does not exist on the host.
    env.insert("DATABASE_URL".into(), db.url.clone());

    let migrate = image_command(dir.path(), &entrypoint, &["migrate".into()], &env).output().unwrap();
    assert!(migrate.status.success(), "{migrate:?}");
    assert!(String::from_utf8_lossy(&migrate.stdout).contains("applied"), "{migrate:?}");

    let mut serve_env = env.clone();
    serve_env.insert("PORT".into(), "0".into());
    let mut server = Running::spawn(image_command(dir.path(), &entrypoint, &cmd, &serve_env));
    let mut probe_env = env.clone();
    probe_env.insert("PORT".into(), server.port.to_string());
    let probe = image_command(dir.path(), &health, &[], &probe_env).output().unwrap();
    assert!(probe.status.success(), "the HEALTHCHECK command fails: {probe:?}");
    server.terminate();
    assert!(server.wait().success(), "SIGTERM ends the server cleanly (exit 0)");
    let stopped = image_command(dir.path(), &health, &[], &probe_env).output().unwrap();
    assert_eq!(stopped.status.code(), Some(1), "unhealthy once stopped: {stopped:?}");
}

#[test]
fn the_dockerfile_steps_migrate_start_and_pass_the_healthcheck_on_sqlite() {
    run_image_steps(&TestDb::sqlite());
}

#[test]
fn the_dockerfile_steps_migrate_start_and_pass_the_healthcheck_on_postgres() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let Some(db) = runtime.block_on(TestDb::postgres()) else { return };
    run_image_steps(&db);
}

fn compose() -> Yaml {
    let text = std::fs::read_to_string(repo().join("docker-compose.yml")).unwrap();
    serde_yaml::from_str(&text).expect("docker-compose.yml is YAML")
}

fn strings(value: &Yaml) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[test]
fn compose_runs_blink_with_postgres_and_redis_each_health_checked() {
    let compose = compose();
    let services = &compose["services"];
    for name in ["blink", "postgres", "redis"] {
        assert!(services[name].is_mapping(), "service {name}");
        assert!(services[name]["profiles"].is_null(), "{name} starts without a profile");
        let test = strings(&services[name]["healthcheck"]["test"]);
        assert_eq!(test.first().map(String::as_str), Some("CMD"), "{name} has an exec-form health check");
    }
    let blink = &services["blink"];
    assert_eq!(strings(&blink["healthcheck"]["test"]), ["CMD", "blink", "healthcheck"]);
    assert!(strings(&services["postgres"]["healthcheck"]["test"]).contains(&"pg_isready".to_owned()));
    assert!(strings(&services["redis"]["healthcheck"]["test"]).contains(&"redis-cli".to_owned()));
    for dependency in ["postgres", "redis"] {
        assert_eq!(blink["depends_on"][dependency]["condition"].as_str(), Some("service_healthy"), "{dependency}");
    }
    assert_eq!(strings(&blink["ports"]), ["${BLINK_PORT:-3000}:3000"]);
    let environment = &blink["environment"];
    let database = environment["DATABASE_URL"].as_str().unwrap();
    assert!(database.starts_with("postgres://") && database.contains("@postgres:5432/"), "{database}");
    assert_eq!(environment["REDIS_URL"].as_str(), Some("redis://redis:6379"));
    // The postgres service's password is the one Blink connects with.
    assert!(database.contains(services["postgres"]["environment"]["POSTGRES_PASSWORD"].as_str().unwrap()));
}

#[test]
fn compose_configures_blink_through_an_env_file_and_a_mounted_blink_toml_that_blink_accepts() {
    let compose = compose();
    let blink_service = &compose["services"]["blink"];
    let env_file = blink_service["env_file"][0]["path"].as_str().expect("an env file");
    assert!(repo().join(format!("{env_file}.example")).is_file(), "{env_file}.example documents it");
    let config_path = blink_service["environment"]["BLINK_CONFIG"].as_str().unwrap();
    let mount = strings(&blink_service["volumes"])
        .into_iter()
        .find(|volume| volume.split(':').nth(1) == Some(config_path))
        .expect("blink.toml mounted where BLINK_CONFIG points");
    let host_file = repo().join(mount.split(':').next().unwrap().trim_start_matches("./"));
    // The database holding PostgreSQL's data is a named volume, so it outlives the container.
    let data = strings(&compose["services"]["postgres"]["volumes"]);
    assert!(data.iter().any(|volume| volume.ends_with(":/var/lib/postgresql/data")), "{data:?}");
    let volume = data[0].split(':').next().unwrap();
    assert!(compose["volumes"][volume].is_null() || compose["volumes"][volume].is_mapping(), "{volume} declared");
    assert!(compose["volumes"].as_mapping().unwrap().contains_key(volume));
    // The mounted file and the env file's example are a configuration Blink accepts.
    let dir = tempfile::tempdir().unwrap();
    let env_example = std::fs::read_to_string(repo().join(format!("{env_file}.example"))).unwrap();
    std::fs::write(dir.path().join(".env"), env_example).unwrap();
    let check = blink(dir.path(), &BTreeMap::new(), &["--config", host_file.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}

#[test]
fn compose_dev_profile_adds_an_openid_provider_for_blinks_callback() {
    let compose = compose();
    let dex = &compose["services"]["dex"];
    assert_eq!(strings(&dex["profiles"]), ["dev"]);
    assert!(strings(&dex["ports"]).contains(&"5556:5556".to_owned()));
    let config = strings(&dex["volumes"]).into_iter().next().expect("the provider's configuration is mounted");
    let file = repo().join(config.split(':').next().unwrap().trim_start_matches("./"));
    let dex_config: Yaml = serde_yaml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let client = &dex_config["staticClients"][0];
    assert_eq!(client["id"].as_str(), Some("blink"));
    assert_eq!(strings(&client["redirectURIs"]), ["http://localhost:3000/auth/login/callback"]);
    let environment = &compose["services"]["blink"]["environment"];
    assert_eq!(environment["OIDC_CLIENT_SECRET"].as_str(), Some("${OIDC_CLIENT_SECRET:-blink-dev-secret}"));
    assert_eq!(client["secret"].as_str(), Some("blink-dev-secret"));
    let issuer = dex_config["issuer"].as_str().unwrap();
    let aliases = strings(&dex["networks"]["default"]["aliases"]);
    let host = url::Url::parse(issuer).unwrap().host_str().unwrap().to_owned();
    assert!(aliases.contains(&host), "Blink reaches the issuer {issuer} by the same name as the browser");
}

#[test]
fn the_example_blink_toml_and_env_file_are_a_valid_configuration_with_declared_links() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("examples/.env"), dir.path().join(".env")).unwrap();
    let config = repo().join("examples/blink.toml");
    let check = blink(dir.path(), &BTreeMap::new(), &["--config", config.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(stdout.contains("[[link]] docs -> https://docs.example.com/"), "{stdout}");
    assert!(stdout.contains("server.trust_proxy"), "{stdout}");
}

/// The documents of a Kubernetes manifest file.
fn manifests(name: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(repo().join("examples/kubernetes").join(name)).unwrap();
    serde_yaml::Deserializer::from_str(&text).map(|document| Yaml::deserialize(document).unwrap()).collect()
}

#[test]
fn the_kubernetes_example_probes_healthz_and_readyz_and_mounts_blink_toml_from_its_config_map() {
    let deployment = &manifests("deployment.yaml")[0];
    assert_eq!(deployment["kind"].as_str(), Some("Deployment"));
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"].as_str(), Some("/healthz"));
    assert_eq!(container["readinessProbe"]["httpGet"]["path"].as_str(), Some("/readyz"));
    assert_eq!(container["ports"][0]["containerPort"].as_u64(), Some(3000));
    let env: BTreeMap<String, String> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|var| (var["name"].as_str().unwrap().to_owned(), var["value"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(env.get("PORT").map(String::as_str), Some("3000"));
    assert_eq!(env.get("AUTO_MIGRATE").map(String::as_str), Some("0"), "the migration Job migrates");
    // The ConfigMap's blink.toml is where BLINK_CONFIG points, and Blink accepts it.
    let mount = &container["volumeMounts"][0];
    assert_eq!(format!("{}/blink.toml", mount["mountPath"].as_str().unwrap()), env["BLINK_CONFIG"]);
    let config_map = &manifests("configmap.yaml")[0];
    assert_eq!(pod["volumes"][0]["configMap"]["name"], config_map["metadata"]["name"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blink.toml"), config_map["data"]["blink.toml"].as_str().unwrap()).unwrap();
    let check = blink(dir.path(), &BTreeMap::new(), &["config", "check"]).output().unwrap();
    assert!(check.status.success(), "{check:?}");
    // The Service selects the Deployment's pods, and the Job runs `blink migrate` with the same secrets.
    let service = &manifests("service.yaml")[0];
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for (key, value) in service["spec"]["selector"].as_mapping().unwrap() {
        assert_eq!(&labels[key.as_str().unwrap()], value);
    }
    let job = &manifests("migrate-job.yaml")[0];
    let migrate = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(strings(&migrate["args"]), ["migrate"]);
    assert_eq!(migrate["envFrom"], container["envFrom"]);
    assert_eq!(manifests("secret.yaml")[0]["metadata"]["name"], container["envFrom"][0]["secretRef"]["name"]);
}
