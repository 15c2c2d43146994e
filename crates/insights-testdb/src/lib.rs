//! Test helper: a scratch PostgreSQL database per test, cloned from a template loaded once
//! with `db/init/init.sql`, and dropped when the test is done; [`Lcg`], a deterministic
//! generator for test data; [`PgBouncer`], a pooler in front of a scratch database; and
//! [`Replication`], a throwaway primary with a streaming replica.
//!
//! The server is the one `TEST_DATABASE_URL` names, and nothing else: `DATABASE_URL` may point
//! at a shared or production server, so the helper never reads it. Without
//! `TEST_DATABASE_URL`, the helper starts a throwaway cluster with `initdb` and `pg_ctl` in a
//! temporary directory on a free port, and a watchdog stops it when the test process exits.
//! If neither works it fails with a message saying what to do; it never skips.
//!
//! The API is blocking and runs its work on a thread of its own, so it can be called from
//! inside an async test's runtime.

mod pgbouncer;
mod replication;

pub use pgbouncer::{free_port, PgBouncer, PGBOUNCER_BINARY};
pub use replication::{Replication, REPLICATED_DATABASE};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use postgres::{Client, NoTls};
use sha2::{Digest, Sha256};

/// The seed the template is loaded with.
pub const INIT_SQL: &str = include_str!("../../../db/init/init.sql");

/// A scratch database, dropped (with any connections to it) when this value is dropped.
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// Creates a scratch database holding exactly `db/init/init.sql`.
    pub fn new() -> TestDb {
        let server = server();
        let template = template(server);
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "insights_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|elapsed| elapsed.subsec_nanos())
                .unwrap_or(0)
        );
        let statement = format!("CREATE DATABASE {name} TEMPLATE {template}");
        let create = || off_runtime(|| admin(server).batch_execute(&statement));
        // A run of another seed on the same server may have pruned this template as stale;
        // build it again once rather than fail.
        let created = create().or_else(|error| match error.code() {
            Some(&postgres::error::SqlState::UNDEFINED_DATABASE) => {
                off_runtime(|| build_template(server, &template))?;
                create()
            }
            _ => Err(error),
        });
        created.unwrap_or_else(|error| {
            panic!(
                "failed to create the scratch database {name}: {}",
                explain(&error)
            )
        });
        TestDb {
            url: server.url_for(&name),
            name,
        }
    }

    /// A URL for the scratch database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A URL for the scratch database through another host and port, such as a proxy's.
    pub fn url_via(&self, host: &str, port: u16) -> String {
        let params: Vec<&str> = self
            .url
            .split(' ')
            .filter(|param| !param.starts_with("host=") && !param.starts_with("port="))
            .collect();
        format!("host={host} port={port} {}", params.join(" "))
    }

    /// The host and port of the server the scratch database lives on.
    pub fn host_port(&self) -> (String, u16) {
        let value = |key: &str| {
            self.url
                .split(' ')
                .find_map(|param| param.strip_prefix(key))
                .map(str::to_owned)
        };
        let host = value("host=").unwrap_or_else(|| "127.0.0.1".to_owned());
        let port = value("port=")
            .and_then(|port| port.parse().ok())
            .unwrap_or(5432);
        (host, port)
    }

    /// The scratch database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the scratch database, which ends every connection to it, and then `role`, a
    /// login the test made: a role is the server's, not the database's, and cannot go while
    /// it is connected.
    pub fn drop_with_role(self, role: &str) {
        drop(self);
        let statement = format!("DROP ROLE IF EXISTS {role}");
        off_runtime(move || admin(server()).batch_execute(&statement))
            .unwrap_or_else(|error| panic!("failed to drop the role {role}: {}", explain(&error)));
    }

    /// Runs SQL on the scratch database, for setting up or inspecting a test's data.
    pub fn execute(&self, sql: &str) {
        let url = self.url.clone();
        let sql = sql.to_owned();
        off_runtime(move || Client::connect(&url, NoTls)?.batch_execute(&sql))
            .unwrap_or_else(|error| panic!("SQL failed on {}: {}", self.name, explain(&error)));
    }

    /// Runs SQL on the scratch database and returns the server's error message, if any,
    /// for tests that expect a statement to be refused.
    pub fn try_execute(&self, sql: &str) -> Result<(), String> {
        let url = self.url.clone();
        let sql = sql.to_owned();
        off_runtime(move || Client::connect(&url, NoTls)?.batch_execute(&sql))
            .map_err(|error| explain(&error))
    }

    /// Runs SQL on the server's maintenance database (`postgres`), for statements about the
    /// scratch database or a role that cannot run inside it, such as
    /// `ALTER DATABASE … ALLOW_CONNECTIONS false` and what undoes it.
    pub fn execute_as_admin(&self, sql: &str) {
        let sql = sql.to_owned();
        off_runtime(move || admin(server()).batch_execute(&sql))
            .unwrap_or_else(|error| panic!("SQL failed on the server: {}", explain(&error)));
    }

    /// Ends every connection to the scratch database but the caller's own, as an operator's
    /// `pg_terminate_backend` does (each gets SQLSTATE 57P01), and returns how many it ended.
    pub fn end_connections(&self) -> usize {
        let statement = format!(
            "SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        );
        off_runtime(move || admin(server()).simple_query(&statement))
            .unwrap_or_else(|error| panic!("failed to end connections: {}", explain(&error)))
            .iter()
            .find_map(|message| match message {
                postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// Runs a query on the scratch database and returns every value as text, row by row.
    pub fn query_text(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let url = self.url.clone();
        let sql = sql.to_owned();
        off_runtime(move || {
            let mut client = Client::connect(&url, NoTls)?;
            let rows = client.simple_query(&sql)?;
            Ok::<_, postgres::Error>(
                rows.into_iter()
                    .filter_map(|message| match message {
                        postgres::SimpleQueryMessage::Row(row) => Some(
                            (0..row.len())
                                .map(|index| row.get(index).map(str::to_owned))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect(),
            )
        })
        .unwrap_or_else(|error| panic!("query failed on {}: {}", self.name, explain(&error)))
    }
}

impl Default for TestDb {
    fn default() -> Self {
        TestDb::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let server = server();
        // A failed drop leaves a stray database behind, which no later run depends on.
        if let Err(error) = off_runtime(|| admin(server).batch_execute(&statement)) {
            eprintln!(
                "warning: failed to drop the scratch database {}: {error}",
                self.name
            );
        }
    }
}

/// The server's message when there is one, with its severity, detail and SQLSTATE;
/// `postgres::Error` alone prints only "db error".
fn explain(error: &postgres::Error) -> String {
    let explain_db =
        |db: &postgres::error::DbError| format!("{db} (SQLSTATE {})", db.code().code());
    error
        .as_db_error()
        .map_or_else(|| error.to_string(), explain_db)
}

/// Runs blocking database work on a thread without an async runtime, because the
/// synchronous client starts one of its own and may not nest inside the caller's.
fn off_runtime<T: Send, E: Send>(work: impl FnOnce() -> Result<T, E> + Send) -> Result<T, E> {
    std::thread::scope(|scope| {
        scope
            .spawn(work)
            .join()
            .expect("the database thread does not panic")
    })
}

/// A server the helper may create databases on.
pub struct Server {
    /// Connection parameters without a database name, in key-value form.
    params: String,
}

impl Server {
    fn url_for(&self, database: &str) -> String {
        format!("{} dbname={database}", self.params)
    }
}

fn admin(server: &Server) -> Client {
    Client::connect(&server.url_for("postgres"), NoTls).unwrap_or_else(|error| {
        panic!(
            "failed to connect to the test PostgreSQL server: {}",
            explain(&error)
        )
    })
}

/// The server for this process, found or started once.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        match configured_server_url(|name| std::env::var(name).ok()) {
            Some(url) => Server { params: key_value_params(&url) },
            None => start_throwaway_cluster().unwrap_or_else(|reason| {
                panic!(
                    "no PostgreSQL server for the tests: TEST_DATABASE_URL is unset, and a throwaway \
                     cluster could not be started ({reason}). Set TEST_DATABASE_URL to a server where \
                     this user may create databases, or install the PostgreSQL server binaries \
                     (initdb, pg_ctl). DATABASE_URL is never used by the tests."
                )
            }),
        }
    })
}

/// The server the environment names for tests: `TEST_DATABASE_URL` when set and not blank.
/// `DATABASE_URL` is deliberately not consulted.
pub fn configured_server_url(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    var("TEST_DATABASE_URL").filter(|url| !url.trim().is_empty())
}

/// Turns a URL into key-value parameters without its database, so any database can be named.
fn key_value_params(url: &str) -> String {
    let config: postgres::Config = url
        .parse()
        .unwrap_or_else(|error| panic!("TEST_DATABASE_URL is not valid: {error}"));
    let mut params = Vec::new();
    if let Some(postgres::config::Host::Tcp(host)) = config.get_hosts().first() {
        params.push(format!("host={host}"));
    }
    if let Some(postgres::config::Host::Unix(path)) = config.get_hosts().first() {
        params.push(format!("host={}", path.display()));
    }
    if let Some(port) = config.get_ports().first() {
        params.push(format!("port={port}"));
    }
    if let Some(user) = config.get_user() {
        params.push(format!("user={user}"));
    }
    if let Some(password) = config.get_password() {
        params.push(format!(
            "password='{}'",
            String::from_utf8_lossy(password)
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
        ));
    }
    params.join(" ")
}

/// Templates are named by this prefix and a content hash.
const TEMPLATE_PREFIX: &str = "insights_template_";

/// The template's name: the prefix and the SHA-256 of the seed, which is stable across Rust
/// releases and machines, unlike `DefaultHasher`.
pub fn template_name(init_sql: &str) -> String {
    let digest = Sha256::digest(init_sql.as_bytes());
    let hex: String = digest[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{TEMPLATE_PREFIX}{hex}")
}

/// The template's name carries a hash of the seed, so a changed seed gets a new template and
/// an existing one is always complete: it is built under a temporary name and renamed last.
/// Templates of older seeds are dropped, so they do not pile up.
fn template(server: &Server) -> String {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let name = template_name(INIT_SQL);
            off_runtime(|| build_template(server, &name)).unwrap_or_else(|error| {
                panic!(
                    "failed to build the template database {name}: {}",
                    explain(&error)
                )
            });
            name
        })
        .clone()
}

/// The advisory lock every process takes while it builds or prunes templates.
const TEMPLATE_LOCK: i64 = 0x696e_7369_6768_7473; // "insights"

fn build_template(server: &Server, name: &str) -> Result<(), postgres::Error> {
    let mut admin = admin(server);
    // One process builds it; the others wait here and then find it.
    admin.execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])?;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])?
        .is_some();
    if !exists {
        let building = format!("{name}_building_{}", std::process::id());
        // Each DATABASE statement must run on its own: several in one query form a transaction.
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {building}"))?;
        admin.batch_execute(&format!("CREATE DATABASE {building}"))?;
        let mut seed = Client::connect(&server.url_for(&building), NoTls)?;
        seed.batch_execute(INIT_SQL)?;
        drop(seed);
        admin.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))?;
        admin.batch_execute(&format!("ALTER DATABASE {name} IS_TEMPLATE true"))?;
    }
    prune_templates(&mut admin, name)?;
    admin.execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])?;
    Ok(())
}

/// Drops the templates of other seeds, and the half-built ones of processes that died.
/// A template some other run is still cloning from has a connection, so its drop fails and
/// it stays for a later run to remove.
fn prune_templates(admin: &mut Client, current: &str) -> Result<(), postgres::Error> {
    let stale: Vec<String> = admin
        .query(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1) AND datname <> $2",
            &[&TEMPLATE_PREFIX, &current],
        )?
        .iter()
        .map(|row| row.get("datname"))
        .collect();
    for name in stale {
        let unmark = admin.batch_execute(&format!("ALTER DATABASE \"{name}\" IS_TEMPLATE false"));
        let dropped =
            unmark.and_then(|()| admin.batch_execute(&format!("DROP DATABASE \"{name}\"")));
        if let Err(error) = dropped {
            eprintln!(
                "note: left the stale template {name} in place: {}",
                explain(&error)
            );
        }
    }
    Ok(())
}

/// Starts a cluster in a temporary directory on a free port; a watchdog stops it and removes
/// the directory when this process exits.
fn start_throwaway_cluster() -> Result<Server, String> {
    let dir = std::env::temp_dir().join(format!("insights-testdb-{}", std::process::id()));
    let cluster = Cluster::create(&dir)?;
    watch(&dir, &cluster)?;
    Ok(Server {
        params: cluster.params(),
    })
}

/// Stops `cluster` and removes `dir` once this process has exited, however it exits.
fn watch(dir: &Path, cluster: &Cluster) -> Result<(), String> {
    let stop = format!(
        "while [ -d /proc/{pid} ]; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        stop = cluster.stop_command("immediate"),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &stop])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|error| format!("failed to start the watchdog: {error}"))
}

/// A [`Cluster`] in a directory of its own under the system's temporary directory, stopped at
/// once and removed when dropped: for a test that stops and starts its server.
pub struct ScratchCluster {
    /// The cluster, to stop and start.
    pub cluster: Cluster,
    dir: PathBuf,
}

impl ScratchCluster {
    /// Creates and starts a cluster in a new directory named after `label`, this process and
    /// the clock.
    pub fn create(label: &str) -> ScratchCluster {
        let dir = std::env::temp_dir().join(format!(
            "{label}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|elapsed| elapsed.subsec_nanos())
                .unwrap_or(0)
        ));
        let cluster = Cluster::create(&dir).expect("a throwaway cluster starts");
        ScratchCluster { cluster, dir }
    }

    /// Connection parameters for `database`, in key-value form.
    pub fn url(&self, database: &str) -> String {
        self.cluster.url_for(database)
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop("immediate");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL cluster of its own, in a directory, on a free port of 127.0.0.1, with trust
/// authentication for the `postgres` user. Chaos runs stop and start it at will.
///
/// As root it belongs to the `postgres` user, because initdb refuses to run as root.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl Cluster {
    /// Creates and starts a cluster in `dir`, which must not hold one yet.
    pub fn create(dir: &Path) -> Result<Cluster, String> {
        let cluster = Cluster::prepare(dir)?;
        let data = cluster.data();
        cluster.run_as(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale",
                "C",
            ],
        )?;
        cluster.start()?;
        Ok(cluster)
    }

    /// Makes `dir` and the cluster's settings, without creating the cluster.
    fn prepare(dir: &Path) -> Result<Cluster, String> {
        let bin = postgres_bin_dir()?;
        let as_root = running_as_root();
        std::fs::create_dir_all(dir)
            .map_err(|error| format!("failed to create {}: {error}", dir.display()))?;
        if as_root {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir)
                .status()
                .map_err(|error| error.to_string())?;
            if !status.success() {
                return Err("failed to hand the cluster's directory to the postgres user".into());
            }
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|error| format!("no free port: {error}"))?
            .port();
        Ok(Cluster {
            bin,
            dir: dir.to_owned(),
            port,
            as_root,
        })
    }

    /// Creates a streaming replica of the running `primary` in `dir` from a base backup
    /// (`pg_basebackup -R`, which writes the settings to follow the primary), and starts it.
    pub fn replica_of(primary: &Cluster, dir: &Path) -> Result<Cluster, String> {
        let replica = Cluster::prepare(dir)?;
        let port = primary.port.to_string();
        replica.run_as(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &replica.data(),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        )?;
        replica.start()?;
        Ok(replica)
    }

    /// The cluster an earlier process created in `dir`, running or not, so it can be stopped.
    pub fn attach(dir: &Path) -> Result<Cluster, String> {
        let bin = postgres_bin_dir()?;
        let pid_file = dir.join("data/postmaster.pid");
        // The fourth line of postmaster.pid is the port; without the file, nothing runs.
        let port = std::fs::read_to_string(&pid_file)
            .map_err(|error| format!("no running cluster in {}: {error}", dir.display()))?
            .lines()
            .nth(3)
            .and_then(|line| line.trim().parse().ok())
            .ok_or_else(|| format!("{} names no port", pid_file.display()))?;
        let as_root = running_as_root();
        Ok(Cluster {
            bin,
            dir: dir.to_owned(),
            port,
            as_root,
        })
    }

    /// Starts the stopped cluster and waits until it accepts connections.
    pub fn start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log").to_string_lossy().into_owned();
        self.run_as(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        )
    }

    /// Stops the cluster with pg_ctl's `mode` (`fast` or `immediate`) and waits until it has.
    pub fn stop(&self, mode: &str) -> Result<(), String> {
        self.run_as("pg_ctl", &["-D", &self.data(), "-m", mode, "-w", "stop"])
    }

    /// Asks the cluster to stop with pg_ctl's `mode` and returns at once. In `smart` mode it
    /// then refuses new connections ("the database system is shutting down", SQLSTATE
    /// 57P03) until its open sessions end, and stops when they have.
    pub fn begin_stop(&self, mode: &str) -> Result<(), String> {
        self.run_as("pg_ctl", &["-D", &self.data(), "-m", mode, "-W", "stop"])
    }

    /// Begins a `smart` stop ([`Cluster::begin_stop`]) and waits until the server refuses
    /// new connections, as it does while its sessions last (the shutdown begins when the
    /// server reads its signal); returns the refusal's SQLSTATE, or its words without one.
    pub fn begin_smart_stop(&self) -> Result<String, String> {
        self.begin_stop("smart")?;
        let url = self.url_for("postgres");
        off_runtime(|| {
            for _ in 0..3000 {
                match postgres::Client::connect(&url, postgres::NoTls) {
                    Ok(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                    Err(error) => {
                        return Ok(error
                            .as_db_error()
                            .map_or_else(|| error.to_string(), |db| db.code().code().to_owned()))
                    }
                }
            }
            Err("the server still takes connections 30 s after a smart stop".to_owned())
        })
    }

    /// Connection parameters without a database name, in key-value form.
    pub fn params(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres", self.port)
    }

    /// Connection parameters for `database`, in key-value form.
    pub fn url_for(&self, database: &str) -> String {
        format!("{} dbname={database}", self.params())
    }

    /// The cluster's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A shell command that stops the cluster, for a watchdog that outlives this process.
    fn stop_command(&self, mode: &str) -> String {
        format!(
            "{}{} -D {} -m {mode} stop",
            if self.as_root {
                "runuser -u postgres -- "
            } else {
                ""
            },
            self.bin.join("pg_ctl").display(),
            self.data(),
        )
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    fn run_as(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(program);
        let mut command = if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|error| format!("failed to run {}: {error}", program.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed: {}",
                program.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

/// Whether this process runs as root, which initdb refuses.
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| output.stdout == b"0\n")
        .unwrap_or(false)
}

/// The directory holding initdb and pg_ctl.
fn postgres_bin_dir() -> Result<PathBuf, String> {
    find_postgres_bin_dir().ok_or_else(|| {
        "initdb and pg_ctl are neither on PATH nor under /usr/lib/postgresql/*/bin".to_owned()
    })
}

fn find_postgres_bin_dir() -> Option<PathBuf> {
    // The directory initdb really lives in, which also holds pg_basebackup when PATH has
    // only links to initdb and pg_ctl (as /usr/local/bin does on some machines).
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
            .map(|dir| {
                dir.join("initdb")
                    .canonicalize()
                    .ok()
                    .and_then(|initdb| Some(initdb.parent()?.to_owned()))
                    .unwrap_or(dir)
            })
    });
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
            .filter(|bin| bin.join("initdb").is_file())
            .collect();
        versions.sort_by_key(|bin| {
            bin.parent()
                .and_then(|version| version.file_name()?.to_str()?.parse::<u32>().ok())
                .unwrap_or(0)
        });
        versions.pop()
    })
}

/// A small deterministic generator for test data, so that a failure reproduces from its
/// seed (a 64-bit linear congruential generator, Knuth's MMIX constants).
#[derive(Clone, Debug)]
pub struct Lcg(pub u64);

impl Lcg {
    /// A number in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}
