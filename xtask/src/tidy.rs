//! Tidy tests: rules of the repository that plain `cargo test` enforces.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::{gen_data, generated_files, project_root};

#[test]
fn generated_files_are_fresh() {
    let root = project_root();
    let mut stale = Vec::new();
    let mut expected = generated_files(&root).unwrap();
    expected.push(("data/mock_timeseries.json", gen_data::shipped()));
    for (path, contents) in expected {
        if fs::read_to_string(root.join(path)).ok().as_deref() != Some(contents.as_str()) {
            stale.push(path);
        }
    }
    assert!(stale.is_empty(), "stale generated files {stale:?}: run `cargo xtask codegen` (and `cargo xtask gen-data` for data/) and commit the result");
}

#[test]
fn monolith_yaml_quotes_every_string_and_covers_the_three_endpoints() {
    // Quoting every key and string is what keeps the hand-written emitter unambiguous.
    let yaml = fs::read_to_string(project_root().join("openapi/monolith.yaml")).unwrap();
    for line in yaml.lines().filter(|line| !line.starts_with('#')) {
        let content = line.trim_start().trim_start_matches("- ");
        assert!(
            content.starts_with('"') || ["-", "{}", ""].contains(&content),
            "every key and string is quoted: {line}"
        );
    }
    for path in [
        "/v1/electric_sensors/{sensor_id}",
        "/v1/locations/{location_id}/circuit-summary",
        "/v1/brands/{brand_id}/metadata",
    ] {
        assert!(
            yaml.contains(&format!("\"{path}\":")),
            "{path} is described"
        );
    }
    assert!(
        !yaml.contains("/usage"),
        "only the monolith endpoints are described"
    );
}

/// The platform rustc builds for by default, such as `x86_64-unknown-linux-gnu`.
fn host_triple() -> String {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

/// The dependency graph of this platform's packages.
struct Graph {
    /// Every package's normal (non-dev) dependency names.
    direct: HashMap<String, Vec<String>>,
    /// Every package's normal dependencies, direct and indirect.
    closures: HashMap<String, BTreeSet<String>>,
    /// The names of the workspace's own crates.
    members: Vec<String>,
}

fn workspace_graph() -> Graph {
    // Only this platform's packages. Not `--offline`: a test binary built alone (`cargo test
    // -p xtask`) leaves some of this platform's packages undownloaded, and metadata needs them.
    let metadata = cargo_metadata(&["--filter-platform", &host_triple()]);
    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            (
                package["id"].as_str().unwrap(),
                package["name"].as_str().unwrap(),
            )
        })
        .collect();
    let mut direct = HashMap::new();
    let mut closure_edges: HashMap<String, Vec<String>> = HashMap::new();
    for node in metadata["resolve"]["nodes"].as_array().unwrap() {
        let name = names[node["id"].as_str().unwrap()].to_owned();
        let normal: Vec<String> = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|dep| {
                dep["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|kind| kind["kind"].is_null())
            })
            .map(|dep| names[dep["pkg"].as_str().unwrap()].to_owned())
            .collect();
        closure_edges
            .entry(name.clone())
            .or_default()
            .extend(normal.iter().cloned());
        direct.insert(name, normal);
    }
    let closures = direct
        .keys()
        .map(|name| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![name.clone()];
            while let Some(current) = stack.pop() {
                for dep in closure_edges.get(&current).into_iter().flatten() {
                    if seen.insert(dep.clone()) {
                        stack.push(dep.clone());
                    }
                }
            }
            (name.clone(), seen)
        })
        .collect();
    let members = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| names[id.as_str().unwrap()].to_owned())
        .collect();
    Graph {
        direct,
        closures,
        members,
    }
}

#[test]
fn dependencies_point_inwards() {
    let Graph {
        direct,
        closures,
        members,
    } = workspace_graph();
    // The core does no I/O: none of these may be reachable from it, even indirectly.
    let forbidden = [
        "tokio",
        "actix-web",
        "actix-rt",
        "mio",
        "postgres",
        "tokio-postgres",
        "deadpool-postgres",
        "serde_json",
        "anyhow",
    ];
    let reached: Vec<&&str> = forbidden
        .iter()
        .filter(|name| closures["insights-core"].contains(**name))
        .collect();
    assert!(
        reached.is_empty(),
        "insights-core must not depend on {reached:?}"
    );

    // The workspace's crates, as cargo lists them, so a new crate is held to these rules too.
    let workspace: Vec<&str> = members.iter().map(String::as_str).collect();
    let workspace_deps = |crate_name: &str| -> Vec<String> {
        direct
            .get(crate_name)
            .into_iter()
            .flatten()
            .filter(|dep| workspace.contains(&dep.as_str()))
            .cloned()
            .collect()
    };
    assert_eq!(
        workspace_deps("insights-core"),
        Vec::<String>::new(),
        "the core depends on no other crate of the workspace"
    );
    // Every crate but the core, the composition root, the automation and the test helper is
    // an adapter or a decorator of a port: it depends on the core only.
    let roles = ["insights-core", "insights-http", "xtask", "insights-testdb"];
    let adapters: Vec<&str> = workspace
        .iter()
        .copied()
        .filter(|name| !roles.contains(name))
        .collect();
    assert!(
        adapters.contains(&"insights-pg") && adapters.contains(&"insights-cache"),
        "{adapters:?}"
    );
    for adapter in &adapters {
        assert_eq!(
            workspace_deps(adapter),
            vec!["insights-core".to_owned()],
            "{adapter} depends on the core only"
        );
    }
    // insights-http is the only composition root. xtask is automation: it drives the service
    // and calls an adapter's own helpers (the file loader, the import), composing nothing.
    for crate_name in workspace.iter().filter(|name| **name != "xtask") {
        let wired: Vec<String> = workspace_deps(crate_name)
            .into_iter()
            .filter(|dep| adapters.contains(&dep.as_str()))
            .collect();
        if !wired.is_empty() {
            assert_eq!(
                *crate_name, "insights-http",
                "only insights-http wires adapters, but {crate_name} depends on {wired:?}"
            );
        }
    }
}

/// A `rust-version` as numbers: `1.89` is `[1, 89, 0]`, so `1.89` and `1.89.0` are equal.
fn rust_version(text: &str) -> Option<[u64; 3]> {
    let mut parts = text.trim().split('.').map(|part| part.parse::<u64>().ok());
    let version = [
        parts.next()??,
        parts.next().unwrap_or(Some(0))?,
        parts.next().unwrap_or(Some(0))?,
    ];
    parts.next().is_none().then_some(version)
}

/// The packages, given as (name, version, `rust-version`), that need a newer Rust than
/// `workspace`, each as `name version needs rust-version`. One whose `rust-version` cannot
/// be read is listed too, so a new spelling is looked at rather than passed.
fn newer_than_workspace(packages: &[(&str, &str, Option<&str>)], workspace: &str) -> Vec<String> {
    let stated = rust_version(workspace)
        .unwrap_or_else(|| panic!("the workspace's rust-version {workspace:?} is not a version"));
    packages
        .iter()
        .filter_map(|(name, version, needs)| {
            let needs = (*needs)?;
            match rust_version(needs) {
                Some(needed) if needed <= stated => None,
                Some(_) => Some(format!("{name} {version} needs {needs}")),
                None => Some(format!("{name} {version} states rust-version {needs:?}")),
            }
        })
        .collect()
}

#[test]
fn rust_version_is_at_least_every_locked_dependency_needs() {
    // Every package of the lock's resolution, for every platform: a build on any of them
    // needs the newest of their rust-versions.
    let metadata = cargo_metadata(&["--locked"]);
    let resolved: BTreeSet<&str> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap())
        .collect();
    let packages: Vec<&Value> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|package| resolved.contains(package["id"].as_str().unwrap()))
        .collect();
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    let field = |package: &Value, name: &str| package[name].as_str().map(str::to_owned);
    // Every crate of the workspace inherits the workspace's rust-version.
    let stated: BTreeSet<Option<String>> = packages
        .iter()
        .filter(|package| members.contains(package["id"].as_str().unwrap()))
        .map(|package| field(package, "rust_version"))
        .collect();
    let workspace = fs::read_to_string(project_root().join("Cargo.toml")).unwrap();
    let declared = workspace
        .lines()
        .find_map(|line| line.strip_prefix("rust-version = "))
        .map(|value| value.trim_matches('"').to_owned());
    assert_eq!(
        stated,
        BTreeSet::from([declared.clone()]),
        "every workspace crate states the workspace's rust-version"
    );
    let declared = declared.expect("Cargo.toml states a rust-version");
    let dependencies: Vec<(String, String, Option<String>)> = packages
        .iter()
        .filter(|package| !members.contains(package["id"].as_str().unwrap()))
        .map(|package| {
            (
                field(package, "name").unwrap(),
                field(package, "version").unwrap(),
                field(package, "rust_version"),
            )
        })
        .collect();
    assert!(
        dependencies.len() > 100,
        "{} dependencies",
        dependencies.len()
    );
    let borrowed: Vec<(&str, &str, Option<&str>)> = dependencies
        .iter()
        .map(|(name, version, needs)| (name.as_str(), version.as_str(), needs.as_deref()))
        .collect();
    let newer = newer_than_workspace(&borrowed, &declared);
    assert!(
        newer.is_empty(),
        "Cargo.toml says rust-version = \"{declared}\", but the locked dependencies need more; raise it (and the README's \"Rust … or newer\") to the highest of: {newer:?}"
    );
}

#[test]
fn a_dependency_needing_a_newer_rust_is_found() {
    let check = |packages: &[(&str, &str, Option<&str>)], workspace: &str, expected: &[&str]| {
        assert_eq!(
            newer_than_workspace(packages, workspace),
            expected,
            "{packages:?} against {workspace}"
        );
    };
    let today = [
        ("actix-web", "4.18.1", Some("1.89")),
        ("uuid", "1.29.3", Some("1.89.0")),
        ("time", "0.3.55", Some("1.88.0")),
        ("itoa", "1.0.15", None),
    ];
    check(&today, "1.89", &[]);
    check(&today, "1.89.0", &[]);
    check(&today, "1.90", &[]);
    // The rust-version this workspace stated before issue 28.
    check(
        &today,
        "1.86",
        &[
            "actix-web 4.18.1 needs 1.89",
            "uuid 1.29.3 needs 1.89.0",
            "time 0.3.55 needs 1.88.0",
        ],
    );
    // A planted dependency that needs more, by minor and by patch.
    check(
        &[
            ("actix-web", "4.18.1", Some("1.89")),
            ("planted", "9.9.9", Some("1.91")),
        ],
        "1.89",
        &["planted 9.9.9 needs 1.91"],
    );
    check(
        &[("planted", "0.1.0", Some("1.89.1"))],
        "1.89",
        &["planted 0.1.0 needs 1.89.1"],
    );
    check(
        &[("planted", "0.1.0", Some("2.0"))],
        "1.89",
        &["planted 0.1.0 needs 2.0"],
    );
    // Numbers, not text: 1.100 is newer than 1.89, and 1.9 older.
    check(
        &[("planted", "0.1.0", Some("1.100"))],
        "1.89",
        &["planted 0.1.0 needs 1.100"],
    );
    check(&[("old", "0.1.0", Some("1.9"))], "1.89", &[]);
    // A rust-version that is not a version is reported, not passed.
    check(
        &[("odd", "0.1.0", Some("1.89-nightly"))],
        "1.89",
        &["odd 0.1.0 states rust-version \"1.89-nightly\""],
    );
}

#[test]
fn the_core_names_no_query_parameter() {
    // The core's errors carry data; insights-http's wording.rs names the parameters. A
    // parameter quoted in a core string means HTTP's words have crept back in.
    // Every usage parameter, as `name` or `name=…` would quote it.
    let params: Vec<String> = insights_http::params::USAGE_PARAMS
        .iter()
        .map(|param| format!("`{}", param.name))
        .collect();
    let core = project_root().join("crates/insights-core/src");
    let mut found = Vec::new();
    for path in rust_files()
        .into_iter()
        .filter(|path| path.starts_with(&core))
    {
        for (index, line) in fs::read_to_string(&path).unwrap().lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if params.iter().any(|param| code.contains(param.as_str())) {
                found.push(format!("{}:{}: {code}", path.display(), index + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "query parameters in the core:\n{}",
        found.join("\n")
    );
}

#[test]
fn configuration_is_listed_once_and_everywhere_alike() {
    // The variables the service reads, by the string literals that name them...
    let http = project_root().join("crates/insights-http/src");
    let mut read = BTreeSet::new();
    for path in rust_files()
        .into_iter()
        .filter(|path| path.starts_with(&http))
    {
        let text = fs::read_to_string(&path).unwrap();
        for piece in text.split('"').skip(1).step_by(2) {
            let is_name = |prefix: &str| {
                piece.starts_with(prefix)
                    && piece.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            };
            if is_name("INSIGHTS_") || piece == "DATABASE_URL" {
                read.insert(piece.to_owned());
            }
        }
    }
    // ...plus RUST_LOG, which tracing-subscriber reads by itself.
    read.insert("RUST_LOG".to_owned());
    let listed: BTreeSet<String> = insights_http::settings::VARIABLES
        .iter()
        .map(|variable| variable.name.to_owned())
        .collect();
    assert_eq!(
        read, listed,
        "the variables read and the variables listed differ"
    );

    // .env.example names every listed variable, and its values are the listed defaults.
    let example = fs::read_to_string(project_root().join(".env.example")).unwrap();
    let mut assigned = BTreeSet::new();
    for line in example.lines() {
        let (commented, line) = match line.strip_prefix("# ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            continue;
        }
        if name == "TEST_DATABASE_URL" {
            continue;
        }
        assigned.insert(name.to_owned());
        let variable = insights_http::settings::VARIABLES
            .iter()
            .find(|variable| variable.name == name)
            .unwrap_or_else(|| panic!(".env.example sets {name}, which the service does not read"));
        if !commented && variable.default.starts_with('`') {
            assert_eq!(
                format!("`{value}`"),
                variable.default,
                ".env.example's {name} differs from the listed default"
            );
        }
    }
    assert_eq!(
        assigned, listed,
        ".env.example and the listed variables differ"
    );
}

fn rust_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    walk(&path, out);
                }
            } else if name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for dir in ["crates", "xtask"] {
        walk(&project_root().join(dir), &mut files);
    }
    files.sort();
    files
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let missing: Vec<PathBuf> = rust_files()
        .into_iter()
        .filter(|path| !fs::read_to_string(path).unwrap().starts_with("//! "))
        .collect();
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` line: {missing:?}"
    );
}

#[test]
fn no_test_is_ignored() {
    let marker = ["#[", "ignore"].concat();
    let offenders: Vec<PathBuf> = rust_files()
        .into_iter()
        .filter(|path| fs::read_to_string(path).unwrap().contains(&marker))
        .collect();
    assert!(
        offenders.is_empty(),
        "tests must never be ignored: {offenders:?}"
    );
}

/// The mutants that `.cargo/mutants.toml` excludes without a comment saying why.
fn unexplained_exclusions(config: &str) -> Vec<String> {
    let Some((_, rest)) = config.split_once("exclude_re = [") else {
        return Vec::new();
    };
    let mut explained = false;
    let mut unexplained = Vec::new();
    // The list ends at a line of its own, as a pattern may hold a `]`.
    for line in rest.lines().map(str::trim).take_while(|line| *line != "]") {
        if line.starts_with('#') {
            explained = true;
        } else if line.is_empty() {
            explained = false;
        } else {
            if !explained {
                unexplained.push(line.to_owned());
            }
            explained = false;
        }
    }
    unexplained
}

#[test]
fn every_excluded_mutant_says_why() {
    let config = fs::read_to_string(project_root().join(".cargo/mutants.toml")).unwrap();
    let unexplained = unexplained_exclusions(&config);
    assert!(
        unexplained.is_empty(),
        "exclusions in .cargo/mutants.toml without a comment above them: {unexplained:?}"
    );
    let check = |text: &str, expected: &[&str]| assert_eq!(unexplained_exclusions(text), expected);
    check("exclude_re = [\n  # dead\n  \"a\",\n]", &[]);
    check(
        "exclude_re = [\n  \"a\",\n  # b is dead\n  \"b\",\n]",
        &["\"a\","],
    );
    // A comment covers the line below it only.
    check("exclude_re = [\n  # a\n  \"a\",\n  \"b\",\n]", &["\"b\","]);
    check(
        "exclude_re = [\n  \"vec!\\\\[\\\\]\",\n]\n",
        &["\"vec!\\\\[\\\\]\","],
    );
}

#[test]
fn core_keeps_missing_docs_warnings() {
    let lib = fs::read_to_string(project_root().join("crates/insights-core/src/lib.rs")).unwrap();
    assert!(lib.contains("#![warn(missing_docs)]"));
}

/// A module's path from its crate's root, such as `["plan"]`; empty for the root itself.
type ModulePath = Vec<String>;

/// What one file says about modules, read as Rust tokens, so comments, strings and doc text
/// say nothing.
#[derive(Debug, Default)]
struct ModuleMentions {
    /// Each `mod name;` with its file elsewhere: the inline modules around it, then its name.
    declared: Vec<ModulePath>,
    /// Each path named through `crate::`, `$crate::`, `super::` or `self::`, resolved from the
    /// crate root: `use` lines and their `{...}` groups, types, calls, and macro arguments
    /// alike (a path inside `concat!(...)` is a dependency as much as one in a `use`).
    named: Vec<ModulePath>,
}

fn is_punct(token: Option<&proc_macro2::TokenTree>, char: char) -> bool {
    matches!(token, Some(proc_macro2::TokenTree::Punct(punct)) if punct.as_char() == char)
}

fn is_path_separator(tokens: &[proc_macro2::TokenTree], at: usize) -> bool {
    is_punct(tokens.get(at), ':') && is_punct(tokens.get(at + 1), ':')
}

fn is_ident(token: Option<&proc_macro2::TokenTree>, name: &str) -> bool {
    matches!(token, Some(proc_macro2::TokenTree::Ident(ident)) if ident == name)
}

/// Reads the rest of a path after `prefix::` (more segments, a `{...}` group of such rests,
/// or `*`, then perhaps `as name`) into `out` as each full path with the name it binds in a
/// `use` (none for a glob). Returns the index of the first token after it.
fn read_path_rest(
    tokens: &[proc_macro2::TokenTree],
    mut at: usize,
    mut prefix: ModulePath,
    out: &mut Vec<(ModulePath, Option<String>)>,
) -> usize {
    use proc_macro2::{Delimiter, TokenTree};
    loop {
        match tokens.get(at) {
            Some(TokenTree::Ident(ident)) if ident != "as" => {
                // `a::{self, B}` names `a` itself.
                if ident != "self" {
                    prefix.push(ident.to_string());
                }
                at += 1;
            }
            Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => {
                let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                for part in inner.split(|token| is_punct(Some(token), ',')) {
                    read_path_rest(part, 0, prefix.clone(), out);
                }
                return at + 1;
            }
            // `*`, or the end of the path: `(`, `!`, `<`, `;` and the like.
            _ => break,
        }
        if !is_path_separator(tokens, at) {
            break;
        }
        at += 2;
    }
    let mut bound = prefix.last().cloned();
    if is_punct(tokens.get(at), '*') {
        bound = None;
    } else if is_ident(tokens.get(at), "as") {
        if let Some(TokenTree::Ident(name)) = tokens.get(at + 1) {
            bound = Some(name.to_string());
            at += 2;
        }
    }
    if !prefix.is_empty() {
        out.push((prefix, bound));
    }
    at
}

/// Collects the mentions in `tokens`, which lie in the module `current`; the file's own module
/// is the first `file_depth` names of it, the rest are inline modules (`mod tests { ... }`).
fn collect_mentions(
    tokens: proc_macro2::TokenStream,
    current: &mut ModulePath,
    file_depth: usize,
    mentions: &mut ModuleMentions,
) {
    use proc_macro2::{Delimiter, TokenTree};
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut at = 0;
    while at < tokens.len() {
        let starts_path = ["crate", "super", "self"]
            .iter()
            .any(|keyword| is_ident(tokens.get(at), keyword))
            && is_path_separator(&tokens, at + 1)
            // Not the middle of a path such as `a::self`; a type after `x: ` starts one.
            && !(at >= 2 && is_path_separator(&tokens, at - 2));
        if starts_path {
            let mut base = current.clone();
            if is_ident(tokens.get(at), "crate") {
                base.clear();
            }
            // `super::super::x` climbs once per `super`.
            while is_ident(tokens.get(at), "super") || is_ident(tokens.get(at), "self") {
                if is_ident(tokens.get(at), "super") {
                    base.pop();
                }
                if !is_path_separator(&tokens, at + 1) {
                    break;
                }
                at += 3;
            }
            if is_ident(tokens.get(at), "crate") {
                at += 3;
            }
            let mut paths = Vec::new();
            at = read_path_rest(&tokens, at, base, &mut paths);
            mentions
                .named
                .extend(paths.into_iter().map(|(path, _)| path));
            continue;
        }
        match (&tokens[at], tokens.get(at + 1), tokens.get(at + 2)) {
            (TokenTree::Ident(keyword), Some(TokenTree::Ident(name)), Some(after))
                if keyword == "mod" =>
            {
                match after {
                    TokenTree::Punct(punct) if punct.as_char() == ';' => {
                        let mut declared = current[file_depth..].to_vec();
                        declared.push(name.to_string());
                        mentions.declared.push(declared);
                    }
                    TokenTree::Group(group) if group.delimiter() == Delimiter::Brace => {
                        current.push(name.to_string());
                        collect_mentions(group.stream(), current, file_depth, mentions);
                        current.pop();
                    }
                    _ => {}
                }
                at += 3;
            }
            (TokenTree::Group(group), _, _) => {
                collect_mentions(group.stream(), current, file_depth, mentions);
                at += 1;
            }
            _ => at += 1,
        }
    }
}

/// The mentions in `source`, the file of the module `module`.
fn module_mentions(source: &str, module: &[String]) -> ModuleMentions {
    let tokens: proc_macro2::TokenStream = source
        .parse()
        .unwrap_or_else(|error| panic!("{module:?} is not Rust tokens: {error:?}"));
    let mut mentions = ModuleMentions::default();
    collect_mentions(tokens, &mut module.to_vec(), module.len(), &mut mentions);
    mentions
}

/// What the crate root's own `use` lines bring in, by the name each binds: `crate::LoadError`
/// is `load::LoadError` when the root says `pub use crate::load::LoadError;`. Glob imports
/// bind no name that can be known here, so they are not followed.
fn root_imports(source: &str) -> BTreeMap<String, ModulePath> {
    let tokens: Vec<proc_macro2::TokenTree> = source
        .parse::<proc_macro2::TokenStream>()
        .expect("the crate root is Rust tokens")
        .into_iter()
        .collect();
    let mut paths = Vec::new();
    for at in 0..tokens.len() {
        if !is_ident(tokens.get(at), "use") {
            continue;
        }
        let mut start = at + 1;
        if (is_ident(tokens.get(start), "crate") || is_ident(tokens.get(start), "self"))
            && is_path_separator(&tokens, start + 1)
        {
            start += 3;
        }
        read_path_rest(&tokens, start, Vec::new(), &mut paths);
    }
    paths
        .into_iter()
        .filter_map(|(path, bound)| Some((bound?, path)))
        .collect()
}

/// One crate of the workspace (a library, a binary, a test target) and its modules.
struct CrateModules {
    /// The package, and the target unless it is the library.
    name: String,
    /// Every module's file, the root's under the empty path.
    files: BTreeMap<ModulePath, PathBuf>,
    /// The modules each module names, by `a::b` names. The root is none of them: it declares
    /// and re-exports the modules and holds what they share, so every module may use it.
    graph: BTreeMap<String, BTreeSet<String>>,
}

/// Every crate of every workspace member, as `cargo metadata` lists them, with the modules
/// its root declares, followed from file to file as rustc does.
fn workspace_crates() -> Vec<CrateModules> {
    let metadata = cargo_metadata(&["--no-deps"]);
    let mut crates = Vec::new();
    for package in metadata["packages"].as_array().unwrap() {
        let package_name = package["name"].as_str().unwrap();
        for target in package["targets"].as_array().unwrap() {
            let kinds = &target["kind"];
            let name = if kinds.as_array().unwrap().iter().any(|kind| kind == "lib") {
                package_name.to_owned()
            } else {
                format!(
                    "{package_name} ({} {})",
                    kinds[0].as_str().unwrap(),
                    target["name"].as_str().unwrap()
                )
            };
            crates.push(crate_modules(
                name,
                Path::new(target["src_path"].as_str().unwrap()),
            ));
        }
    }
    crates
}

fn crate_modules(name: String, root: &Path) -> CrateModules {
    let mut files = BTreeMap::new();
    let mut mentions = BTreeMap::new();
    let mut pending = vec![(ModulePath::new(), root.to_path_buf())];
    while let Some((module, file)) = pending.pop() {
        let source = fs::read_to_string(&file).unwrap();
        let found = module_mentions(&source, &module);
        // A root's or a `mod.rs`'s children sit beside it; `a.rs`'s in `a/`.
        let children = if module.is_empty() || file.ends_with("mod.rs") {
            file.parent().unwrap().to_path_buf()
        } else {
            file.with_extension("")
        };
        for declared in found.declared {
            let (child, inline) = declared.split_last().unwrap();
            let dir = inline
                .iter()
                .fold(children.clone(), |dir, name| dir.join(name));
            let child_file = [
                dir.join(format!("{child}.rs")),
                dir.join(child).join("mod.rs"),
            ]
            .into_iter()
            .find(|path| path.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "{}: no file for `mod {child};` (`#[path]` is not followed)",
                    file.display()
                )
            });
            let mut child_module = module.clone();
            child_module.extend(declared.iter().cloned());
            pending.push((child_module, child_file));
        }
        mentions.insert(module.clone(), found.named);
        files.insert(module, file);
    }
    let imports = root_imports(&fs::read_to_string(root).unwrap());
    let modules: BTreeSet<&ModulePath> = files.keys().filter(|module| !module.is_empty()).collect();
    // The module a path leads into: its longest prefix that is a module, after the root's
    // imports are followed.
    let owner = |path: &ModulePath| -> Option<String> {
        let path = match imports.get(&path[0]) {
            Some(source) if !modules.contains(&path[..1].to_vec()) => {
                source.iter().chain(&path[1..]).cloned().collect()
            }
            _ => path.clone(),
        };
        (1..=path.len())
            .rev()
            .map(|len| path[..len].to_vec())
            .find(|prefix| modules.contains(prefix))
            .map(|module| module.join("::"))
    };
    let graph = mentions
        .iter()
        .filter(|(module, _)| !module.is_empty())
        .map(|(module, named)| {
            let name = module.join("::");
            let targets = named
                .iter()
                .filter_map(owner)
                .filter(|target| *target != name)
                .collect();
            (name, targets)
        })
        .collect();
    CrateModules { name, files, graph }
}

/// The first circle in `graph` as the modules along it, the first one again at the end.
fn first_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    // Depth-first search from every module; a module met again on the current path closes
    // a circle.
    fn visit(
        module: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|seen| seen == module) {
            let mut circle = path[start..].to_vec();
            circle.push(module.to_owned());
            return Some(circle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(module, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_a_circle_of_modules() {
    let crates = workspace_crates();
    // Every source file is some crate's module, so none escapes the search.
    let read: BTreeSet<&PathBuf> = crates
        .iter()
        .flat_map(|krate| krate.files.values())
        .collect();
    let unread: Vec<PathBuf> = rust_files()
        .into_iter()
        .filter(|path| !read.contains(path))
        .collect();
    assert!(
        unread.is_empty(),
        "no crate has these files as modules, so the circle test cannot read them: {unread:?}"
    );
    let http = crates
        .iter()
        .find(|krate| krate.name == "insights-http")
        .unwrap();
    assert!(http.graph.len() > 10, "{:?}", http.graph);
    let circles: Vec<String> = crates
        .iter()
        .filter_map(|krate| {
            let circle = first_circle(&krate.graph)?;
            Some(format!(
                "{}'s modules form a circle: {}",
                krate.name,
                circle.join(" → ")
            ))
        })
        .collect();
    assert!(
        circles.is_empty(),
        "move what the modules of a circle share into a module of its own: {circles:#?}"
    );
}

#[test]
fn module_mentions_are_read_from_paths_alone() {
    let check = |source: &str, expected: &[&str]| {
        let named: Vec<String> = module_mentions(source, &["m".to_owned()])
            .named
            .iter()
            .map(|path| path.join("::"))
            .collect();
        assert_eq!(named, expected, "{source}");
    };
    check("use crate::a::B;", &["a::B"]);
    check("use crate::{a, b::{C, D as E}};", &["a", "b::C", "b::D"]);
    check("use crate::a::{self, B};", &["a", "a::B"]);
    check(
        "fn f() -> crate::a::B { crate::a::B { x: 1 } }",
        &["a::B", "a::B"],
    );
    check("fn f() { crate::a::g::<u8>(); }", &["a::g"]);
    check(
        "const Q: &str = concat!(crate::a::q!(\"x\"), \"y\");",
        &["a::q"],
    );
    check("macro_rules! m { () => { $crate::a::q!() }; }", &["a::q"]);
    check("use super::x::Y;", &["x::Y"]);
    check(
        "struct S { f: crate::a::B } fn f(x: super::y::Z) {}",
        &["a::B", "y::Z"],
    );
    check("use self::child::Z;", &["m::child::Z"]);
    check(
        "mod tests { use super::*; use super::super::x; }",
        &["m", "x"],
    );
    check("mod inner { fn f() { super::super::a::g(); } }", &["a::g"]);
    check("pub(in crate::a) fn f() {}", &["a"]);
    // Not paths into the crate: visibility, `self` and `Self`, comments, strings, doc text.
    check(
        "pub(crate) fn f(&self) -> Self { self.g(); Self::h() } // crate::a\n\
         /// [crate::b]\nconst S: &str = \"crate::c\"; /* super::d */ const T: x::crate_y = 1;",
        &[],
    );
    let declared = module_mentions("mod a; mod b { mod c; fn f() {} } mod d {}", &[]).declared;
    assert_eq!(declared, [vec!["a"], vec!["b", "c"]]);
}

#[test]
fn root_imports_bind_their_names() {
    let check = |source: &str, expected: &[(&str, &str)]| {
        let imports: Vec<(String, String)> = root_imports(source)
            .into_iter()
            .map(|(name, path)| (name, path.join("::")))
            .collect();
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(name, path)| (name.to_string(), path.to_string()))
            .collect();
        assert_eq!(imports, expected, "{source}");
    };
    check(
        "pub use crate::load::LoadError;",
        &[("LoadError", "load::LoadError")],
    );
    check(
        "pub use import::{import, Report as R}; use std::fmt;",
        &[
            ("R", "import::Report"),
            ("fmt", "std::fmt"),
            ("import", "import::import"),
        ],
    );
    check("pub use load::*; fn f() { use a::B; }", &[]);
}

#[test]
fn first_circle_is_found() {
    let check = |edges: &[(&str, &str)], expected: Option<&[&str]>| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            graph
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
        }
        let expected =
            expected.map(|modules| modules.iter().map(|module| module.to_string()).collect());
        assert_eq!(first_circle(&graph), expected, "{edges:?}");
    };
    check(&[], None);
    check(&[("a", "b"), ("b", "c"), ("a", "c")], None);
    check(&[("a", "b"), ("b", "a")], Some(&["a", "b", "a"]));
    check(
        &[("a", "b"), ("b", "c"), ("c", "b")],
        Some(&["b", "c", "b"]),
    );
    check(
        &[("a", "b"), ("b", "c"), ("c", "a")],
        Some(&["a", "b", "c", "a"]),
    );
}

/// `cargo metadata --format-version 1` of the workspace, with `extra` arguments, as JSON.
fn cargo_metadata(extra: &[&str]) -> Value {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .args(extra)
        .current_dir(project_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
