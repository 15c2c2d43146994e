//! PgBouncer for tests: Debian's binary started on a free port of 127.0.0.1 in transaction
//! mode, every pooling setting at its default, in front of a test's scratch database, and
//! stopped when the value is dropped.
//!
//! PgBouncer refuses to run as root, so as root it is started with `-u postgres`.

use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{running_as_root, TestDb};

/// Where Debian's package `pgbouncer` installs the binary.
pub const PGBOUNCER_BINARY: &str = "/usr/sbin/pgbouncer";

/// How long PgBouncer gets to listen after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running PgBouncer, stopped and its directory removed on drop.
pub struct PgBouncer {
    child: Child,
    port: u16,
    dir: PathBuf,
    database: String,
    user: String,
    password: Option<String>,
}

impl PgBouncer {
    /// Starts PgBouncer in transaction mode in front of `db`, listed under the scratch
    /// database's own name, and of each `(name, connection string)` of `others` (such as a
    /// database on a port where nothing listens). Every other pooling setting is PgBouncer's
    /// default: `default_pool_size` 20, `max_client_conn` 100, no `ignore_startup_parameters`.
    ///
    /// Without the binary, `None`, said on stderr so the caller's test can return; but when
    /// the environment variable `CI` is set a missing binary fails the test, as CI installs it.
    pub fn start(db: &TestDb, others: &[(&str, String)]) -> Option<PgBouncer> {
        if !std::path::Path::new(PGBOUNCER_BINARY).is_file() {
            let reason = format!(
                "{PGBOUNCER_BINARY} is absent (Debian's package pgbouncer installs it): the test through PgBouncer did not run"
            );
            assert!(std::env::var_os("CI").is_none(), "{reason}, and CI is set");
            eprintln!("note: {reason}");
            return None;
        }
        let config: postgres::Config = db.url().parse().expect("the scratch URL parses");
        let user = config.get_user().unwrap_or("postgres").to_owned();
        let password = config
            .get_password()
            .map(|password| String::from_utf8_lossy(password).into_owned());
        let (host, server_port) = db.host_port();
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("insights-pgbouncer-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a directory for PgBouncer's files");
        let mut databases = format!(
            "{name} = host={host} port={server_port} dbname={name}\n",
            name = db.name()
        );
        for (name, target) in others {
            let _ = writeln!(databases, "{name} = {target}");
        }
        let userlist = dir.join("userlist.txt");
        let ini = dir.join("pgbouncer.ini");
        // With auth_type = trust PgBouncer asks the client for no password, but it logs in to
        // the server as the user with the password it finds here.
        std::fs::write(
            &userlist,
            format!(
                "\"{user}\" \"{}\"\n",
                password.as_deref().unwrap_or_default().replace('"', "\"\"")
            ),
        )
        .expect("PgBouncer's user list is written");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n{databases}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\nauth_type = trust\nauth_file = {}\npool_mode = transaction\n",
                userlist.display()
            ),
        )
        .expect("PgBouncer's configuration is written");
        let log = std::fs::File::create(dir.join("pgbouncer.log")).expect("a log file");
        let mut command = Command::new(PGBOUNCER_BINARY);
        if running_as_root() {
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(&ini)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file, twice"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("failed to start {PGBOUNCER_BINARY}: {error}"));
        let mut bouncer = PgBouncer {
            child,
            port,
            dir,
            database: db.name().to_owned(),
            user,
            password,
        };
        bouncer.watch();
        bouncer.wait_until_listening();
        Some(bouncer)
    }

    /// The port PgBouncer listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A key-value URL for the scratch database through PgBouncer.
    pub fn url(&self) -> String {
        self.url_for(&self.database)
    }

    /// A key-value URL for one of PgBouncer's databases, by its name there.
    pub fn url_for(&self, database: &str) -> String {
        let mut url = format!(
            "host=127.0.0.1 port={} user={} dbname={database}",
            self.port, self.user
        );
        if let Some(password) = &self.password {
            let _ = write!(
                url,
                " password='{}'",
                password.replace('\\', "\\\\").replace('\'', "\\'")
            );
        }
        url
    }

    /// What PgBouncer has logged so far, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }

    /// Stops PgBouncer now, ending every client connection, as an outage of the pooler does.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A watchdog that stops PgBouncer if this process dies without dropping it.
    fn watch(&self) {
        let stop = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; kill {child} 2>/dev/null; rm -rf {dir}",
            pid = std::process::id(),
            child = self.child.id(),
            dir = self.dir.display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &stop])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("PgBouncer exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "PgBouncer did not listen within {START_TIMEOUT:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port of 127.0.0.1 that nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}
