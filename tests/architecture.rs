//! The layering of docs/ARCHITECTURE.md, checked on the source: which top-level module of `src/` may name which,
//! and no cycles between them. A module "names" another when its code (not its comments) says `crate::other`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// One top-level module: the other modules its code names, and the external crates it uses from `poem`/`sqlx`.
#[derive(Debug, Default)]
struct Module {
    names: BTreeSet<String>,
    code: String,
}

/// Every top-level module of `src/` (a directory or a file), but the crate roots.
fn modules() -> BTreeMap<String, Module> {
    let mut modules = BTreeMap::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut pending = vec![src.clone()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(std::fs::read_dir(&path).expect("read src").map(|entry| entry.expect("entry").path()));
            continue;
        }
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let relative = path.strip_prefix(&src).expect("under src");
        let top = relative.components().next().expect("a component").as_os_str().to_string_lossy();
        let name = top.trim_end_matches(".rs").to_owned();
        if name == "lib" || name == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        let code: String = text.lines().map(without_comment).collect::<Vec<_>>().join("\n");
        let module: &mut Module = modules.entry(name.clone()).or_default();
        module.names.extend(crate_paths(&code).into_iter().filter(|other| *other != name));
        module.code.push_str(&code);
        module.code.push('\n');
    }
    modules
}

/// The line without a `//` comment (doc comments included); a `//` inside a string literal is rare enough here.
fn without_comment(line: &str) -> &str {
    match line.find("//") {
        Some(at) if !line[..at].ends_with(':') => &line[..at],
        _ => line,
    }
}

/// The modules named after `crate::`, including each of a group: `crate::{a, b::c}` names `a` and `b`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let ident = |text: &str| text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut named = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first segment of each item at the group's own depth: `{a::{b, c}, d}` names `a` and `d`.
            let mut depth = 0;
            let mut item_start = true;
            for (index, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        named.insert(ident(&group[index..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            named.insert(ident(rest));
        }
    }
    named.remove("");
    named
}

fn uses_crate(module: &Module, krate: &str) -> bool {
    module.code.contains(&format!("{krate}::")) || module.code.contains(&format!("use {krate}"))
}

fn assert_names_none_of(modules: &BTreeMap<String, Module>, module: &str, forbidden: &[&str]) {
    let found = &modules.get(module).unwrap_or_else(|| panic!("no module `{module}`")).names;
    let bad: Vec<_> = forbidden.iter().filter(|name| found.contains(**name)).collect();
    assert!(bad.is_empty(), "`src/{module}` must not use crate::{bad:?} (it uses {found:?})");
}

#[test]
fn the_domain_knows_no_http_and_no_database_driver() {
    let modules = modules();
    for domain in ["links", "users", "auth"] {
        assert_names_none_of(&modules, domain, &["store", "http", "state", "server"]);
        for krate in ["poem", "sqlx"] {
            assert!(!uses_crate(&modules[domain], krate), "`src/{domain}` uses the `{krate}` crate");
        }
    }
}

#[test]
fn configuration_is_a_leaf() {
    let modules = modules();
    let config = &modules["config"].names;
    assert!(config.is_empty(), "`src/config` must not use other Blink modules, but uses {config:?}");
}

#[test]
fn storage_and_http_stay_apart() {
    let modules = modules();
    assert_names_none_of(&modules, "store", &["http", "state", "server"]);
    assert_names_none_of(&modules, "http", &["store", "server"]);
}

#[test]
fn the_click_export_knows_only_the_click_stream_and_configuration() {
    let modules = modules();
    let names = &modules["nats"].names;
    let bad: Vec<_> = names.iter().filter(|name| !["analytics", "config"].contains(&name.as_str())).collect();
    assert!(bad.is_empty(), "`src/nats` must use only crate::analytics and crate::config, but uses {bad:?}");
    for module in ["links", "users", "auth", "analytics", "store"] {
        assert_names_none_of(&modules, module, &["nats"]);
    }
}

#[test]
fn no_module_cycles() {
    let modules = modules();
    let graph: BTreeMap<&str, Vec<&str>> = modules
        .iter()
        .map(|(name, module)| {
            (name.as_str(), module.names.iter().map(String::as_str).filter(|n| modules.contains_key(*n)).collect())
        })
        .collect();
    // Depth-first search; a back edge to a module on the current path is a cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(start) = path.iter().position(|on| *on == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node);
            panic!("module cycle: {}", cycle.join(" -> "));
        }
        if !done.insert(node) {
            return;
        }
        path.push(node);
        for next in &graph[node] {
            visit(next, graph, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_checker_reads_paths_and_groups() {
    let named = crate_paths("use crate::{links::{Link, LinkMeta}, store}; let x = crate::auth::Caller::operator();");
    assert_eq!(named, BTreeSet::from(["auth".to_owned(), "links".to_owned(), "store".to_owned()]));
    assert_eq!(without_comment("let a = 1; // crate::http"), "let a = 1; ");
    assert_eq!(without_comment("let url = \"https://example.com\";"), "let url = \"https://example.com\";");
}
