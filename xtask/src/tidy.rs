//! Tidy tests: rules of the repository that plain `cargo test` enforces.

use std::collections::{BTreeSet, HashMap};
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
    let params = [
        "`start`",
        "`end`",
        "`bucket",
        "`tz`",
        "`demand_interval",
        "`top`",
    ];
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
            if params.iter().any(|param| code.contains(param)) {
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

/// The modules of `insights-http` that each module refers to through `crate::`.
fn http_module_graph() -> HashMap<String, BTreeSet<String>> {
    let dir = project_root().join("crates/insights-http/src");
    let mut graph = HashMap::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        // The crate root and the binary wire the modules together; they are not modules.
        if path.extension().is_none_or(|ext| ext != "rs") || name == "lib" || name == "main" {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("crate::{"),
            "{name}.rs: name each module in its own path"
        );
        let targets: BTreeSet<String> = text
            .match_indices("crate::")
            .map(|(at, _)| {
                text[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .filter(|target| *target != name)
            .collect();
        graph.insert(name, targets);
    }
    graph
}

#[test]
fn http_modules_form_no_circle() {
    let graph = http_module_graph();
    assert!(graph.len() > 10, "{graph:?}");
    // Depth-first search from every module, reporting the first circle found.
    fn visit(
        module: &str,
        graph: &HashMap<String, BTreeSet<String>>,
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
    let mut modules: Vec<&String> = graph.keys().collect();
    modules.sort();
    for module in modules {
        if let Some(circle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            panic!(
                "insights-http's modules form a circle: {}",
                circle.join(" → ")
            );
        }
    }
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
