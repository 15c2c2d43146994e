//! A primary and a streaming replica of it, each a throwaway cluster of its own made with
//! `initdb` and `pg_basebackup -R`, for tests of reads from a replica. Both are stopped and
//! their directory removed when the value is dropped, and by a watchdog if the test process
//! dies first.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use crate::{explain, off_runtime, watch, Cluster, INIT_SQL};

/// How long a replica gets to replay what the primary holds.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(30);

/// The database both clusters hold, loaded with `db/init/init.sql` on the primary.
pub const REPLICATED_DATABASE: &str = "insights";

/// A primary with the seed loaded into [`REPLICATED_DATABASE`], and a streaming replica.
pub struct Replication {
    primary: Cluster,
    replica: Cluster,
    dir: PathBuf,
}

impl Replication {
    /// Creates the primary, loads the seed, and makes and starts the replica from a base
    /// backup. Panics with the reason when the PostgreSQL binaries cannot do it.
    pub fn start() -> Replication {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "insights-replication-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        // Each watchdog removes its own cluster's directory only, after stopping it.
        let primary_dir = dir.join("primary");
        let primary = Cluster::create(&primary_dir)
            .unwrap_or_else(|reason| panic!("the primary did not start: {reason}"));
        watch(&primary_dir, &primary).unwrap_or_else(|reason| panic!("{reason}"));
        let create = format!("CREATE DATABASE {REPLICATED_DATABASE}");
        let seed_url = primary.url_for(REPLICATED_DATABASE);
        off_runtime(|| {
            Client::connect(&primary.url_for("postgres"), NoTls)?.batch_execute(&create)?;
            Client::connect(&seed_url, NoTls)?.batch_execute(INIT_SQL)
        })
        .unwrap_or_else(|error| panic!("the seed did not load: {}", explain(&error)));
        let replica_dir = dir.join("replica");
        let replica = Cluster::replica_of(&primary, &replica_dir)
            .unwrap_or_else(|reason| panic!("the replica did not start: {reason}"));
        watch(&replica_dir, &replica).unwrap_or_else(|reason| panic!("{reason}"));
        Replication {
            primary,
            replica,
            dir,
        }
    }

    /// The replicated database on the primary, in key-value form.
    pub fn primary_url(&self) -> String {
        self.primary_url_for(REPLICATED_DATABASE)
    }

    /// `database` on the primary, in key-value form.
    pub fn primary_url_for(&self, database: &str) -> String {
        self.primary.url_for(database)
    }

    /// The replicated database on the replica, as a `postgres://` URL.
    pub fn replica_url(&self) -> String {
        self.replica_url_for(REPLICATED_DATABASE)
    }

    /// `database` on the replica, as a `postgres://` URL.
    pub fn replica_url_for(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.replica.port()
        )
    }

    /// Runs SQL on the primary's replicated database.
    pub fn execute_on_primary(&self, sql: &str) {
        let url = self.primary_url();
        off_runtime(|| Client::connect(&url, NoTls)?.batch_execute(sql))
            .unwrap_or_else(|error| panic!("SQL failed on the primary: {}", explain(&error)));
    }

    /// Stops replaying WAL on the replica, which keeps answering from what it has.
    pub fn pause_replay(&self) {
        self.on_replica("SELECT pg_wal_replay_pause()");
    }

    /// Replays WAL on the replica again.
    pub fn resume_replay(&self) {
        self.on_replica("SELECT pg_wal_replay_resume()");
    }

    /// Waits until the replica has replayed everything the primary has written.
    pub fn wait_for_replay(&self) {
        let position = |url: &str, sql: &str| -> Result<i64, postgres::Error> {
            let row = Client::connect(url, NoTls)?.query_one(sql, &[])?;
            Ok(row.get(0))
        };
        let primary_url = self.primary_url();
        let replica_url = self.replica.url_for(REPLICATED_DATABASE);
        let written = off_runtime(|| {
            position(
                &primary_url,
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8",
            )
        })
        .unwrap_or_else(|error| panic!("the primary's position: {}", explain(&error)));
        let deadline = Instant::now() + REPLAY_TIMEOUT;
        loop {
            let replayed = off_runtime(|| {
                position(
                    &replica_url,
                    "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::int8",
                )
            });
            if replayed.as_ref().is_ok_and(|replayed| *replayed >= written) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the replica did not replay to {written} within {REPLAY_TIMEOUT:?}: {:?}",
                replayed.map_err(|error| explain(&error))
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the replica (`fast`: open sessions are ended).
    pub fn stop_replica(&self) {
        self.replica
            .stop("fast")
            .unwrap_or_else(|reason| panic!("the replica did not stop: {reason}"));
    }

    /// Starts the stopped replica, which goes on streaming from where it stood.
    pub fn start_replica(&self) {
        self.replica
            .start()
            .unwrap_or_else(|reason| panic!("the replica did not start again: {reason}"));
    }

    fn on_replica(&self, sql: &str) {
        let url = self.replica.url_for(REPLICATED_DATABASE);
        off_runtime(|| Client::connect(&url, NoTls)?.batch_execute(sql))
            .unwrap_or_else(|error| panic!("SQL failed on the replica: {}", explain(&error)));
    }
}

impl Drop for Replication {
    fn drop(&mut self) {
        let _ = self.replica.stop("immediate");
        let _ = self.primary.stop("immediate");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
