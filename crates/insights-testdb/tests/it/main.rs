//! insights-testdb's integration tests: which server the helper creates databases on, and how
//! its templates are named and pruned.
//!
//! The helper picks its server once per process, so the cases about the environment run this
//! test binary again as a child (`probe_reports_its_server`) with the environment to try.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use insights_testdb::{configured_server_url, template_name, TestDb, INIT_SQL};

/// Where the probe writes the host and port of its scratch database, when asked to.
const PROBE_OUT: &str = "INSIGHTS_TESTDB_PROBE_OUT";

/// Creates a scratch database and checks it lives on the server the environment selects:
/// `TEST_DATABASE_URL`'s, or else a throwaway cluster. Run as a child by the tests below, it
/// also reports where that was.
#[test]
fn probe_reports_its_server() {
    let db = TestDb::new();
    let (host, port) = db.host_port();
    if let Some(url) = configured_server_url(|name| std::env::var(name).ok()) {
        let config: postgres::Config = url.parse().expect("TEST_DATABASE_URL parses");
        assert_eq!(config.get_ports().first().copied().unwrap_or(5432), port);
    }
    assert_eq!(
        db.query_text("SELECT count(*) FROM brands"),
        [[Some("1".to_owned())]]
    );
    if let Ok(out) = std::env::var(PROBE_OUT) {
        std::fs::write(out, format!("{host}:{port}")).expect("the probe writes its report");
    }
}

/// Runs the probe in a child process with `env` on top of an environment that has neither
/// URL, and returns the host and port it reports.
fn run_probe(env: &[(&str, &str)]) -> String {
    let out = std::env::temp_dir().join(format!("insights-testdb-probe-{}", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command
        .args(["--exact", "probe_reports_its_server", "--test-threads", "1"])
        .env_remove("TEST_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env(PROBE_OUT, &out);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("the probe starts");
    assert!(
        output.status.success(),
        "the probe failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    read_report(&out)
}

fn read_report(path: &Path) -> String {
    let report = std::fs::read_to_string(path).expect("the probe wrote its report");
    let _ = std::fs::remove_file(path);
    report
}

/// A port that counts every connection made to it and answers none of them.
struct Decoy {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl Decoy {
    fn start() -> Decoy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("a bound address").port();
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        // The thread ends with the test process.
        std::thread::spawn(move || loop {
            match listener.accept() {
                Ok(_) => {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return,
            }
        });
        Decoy { port, connections }
    }
}

#[test]
fn with_only_database_url_set_the_tests_use_a_cluster_of_their_own() {
    let decoy = Decoy::start();
    let database_url = format!("postgres://postgres@127.0.0.1:{}/production", decoy.port);
    let report = run_probe(&[("DATABASE_URL", &database_url)]);
    assert_ne!(report, format!("127.0.0.1:{}", decoy.port));
    assert_eq!(
        decoy.connections.load(Ordering::SeqCst),
        0,
        "the helper connected to the server DATABASE_URL names"
    );
}

#[test]
fn only_test_database_url_names_a_server() {
    fn check(env: &[(&str, &str)], expected: Option<&str>) {
        let lookup = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        };
        assert_eq!(
            configured_server_url(lookup).as_deref(),
            expected,
            "{env:?}"
        );
    }
    check(&[], None);
    check(&[("DATABASE_URL", "postgres://prod/db")], None);
    check(&[("TEST_DATABASE_URL", " ")], None);
    check(
        &[
            ("DATABASE_URL", "postgres://prod/db"),
            ("TEST_DATABASE_URL", "postgres://test/db"),
        ],
        Some("postgres://test/db"),
    );
}

#[test]
fn templates_are_named_by_the_seeds_sha256() {
    fn check(seed: &str, expected: &str) {
        assert_eq!(template_name(seed), expected, "{seed:?}");
    }
    // SHA-256("") and SHA-256("abc"), first 16 bytes: fixed by the standard, so a template
    // keeps its name across Rust releases and machines.
    check("", "insights_template_e3b0c44298fc1c149afbf4c8996fb924");
    check("abc", "insights_template_ba7816bf8f01cfea414140de5dae2223");
    assert_ne!(
        template_name(INIT_SQL),
        template_name(&format!("{INIT_SQL} "))
    );
}

#[test]
fn templates_of_other_seeds_are_dropped() {
    let db = TestDb::new();
    let stale = template_name("a seed nobody uses any more");
    db.execute(&format!("CREATE DATABASE {stale} IS_TEMPLATE true"));
    let exists = |name: &str| {
        db.query_text(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
        )) == [[Some("1".to_owned())]]
    };
    assert!(exists(&stale));
    // A new process on the same server prunes when it finds its template.
    run_probe(&[("TEST_DATABASE_URL", db.url())]);
    assert!(!exists(&stale), "{stale} is still there");
    assert!(exists(&template_name(INIT_SQL)));
}
