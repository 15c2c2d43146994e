//! A [`MetadataRepo`] over PostgreSQL: each lookup is one round trip, bounded by timeouts, so
//! an outage answers quickly with [`MetadataError::Unavailable`] instead of hanging. Straight
//! to the server, statements are prepared once per connection; through a pooler in
//! transaction mode ([`Pooler::Transaction`]) each is sent unnamed inside a transaction of its
//! own that carries the session settings.
//!
//! Every lookup fetches the subtree it needs as flat rows (the anchor, its ancestors, and
//! its descendants through `LEFT JOIN`s), folds them into a [`Catalogue`], and builds the
//! view with the same code as the embedded store, so both stores answer identically.

mod homed;
mod import;
mod layout;
mod plan;
mod queries;
mod replicas;
mod timeseries;

pub use import::{
    import, ImportError, ImportReport, Importer, Settled, VerifyReport, LATE_SERIES_DAYS_AT_ONCE,
};
pub use replicas::{ReplicaConfig, ReplicaStatus, WhenNoReplica, PROBE_EVERY, PROBE_STALE_AFTER};
pub use timeseries::PgTimeSeries;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, PoolError, RecyclingMethod, Runtime};
use insights_core::{
    Brand, BrandId, BrandTree, Catalogue, Circuit, CircuitContext, CircuitId, Duid, ElectricSensor,
    InMemoryMetadata, Location, LocationId, LocationSummary, MetadataError, MetadataRepo,
    Organization, OrganizationId, OrganizationTree, SensorDetail, SensorId, SeriesKey,
    TimeSeriesError,
};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use crate::homed::{HomedManager, HomedPool, ReadError};

/// A statement's parameter with its PostgreSQL type, which an unnamed statement must declare
/// because no prepare step asks the server for it.
pub(crate) type Param<'a> = (&'a (dyn ToSql + Sync), Type);

/// What stands between the service and PostgreSQL, which decides how statements are sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pooler {
    /// Nothing, or a pooler that gives each client connection a server connection of its own
    /// and passes the startup parameter `options` on: the session settings ride in `options`,
    /// and each statement is prepared once per connection and then sent as Bind and Execute.
    #[default]
    None,
    /// A pooler in transaction mode, such as PgBouncer with `pool_mode = transaction`, which
    /// may run each transaction on another server connection and refuses `options`. Each
    /// statement is sent unnamed (Parse, Bind and Execute at once), inside a transaction that
    /// opens with `SET LOCAL` of the session settings; the three messages leave together, so
    /// it is still one round trip. Works with any pooler mode, and straight to the server.
    Transaction,
}

/// How to reach the database and how long to wait for it.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    /// A libpq-style URL or key-value string. It may hold a password: never log it.
    pub url: String,
    /// The most connections the pool opens.
    pub pool_size: usize,
    /// How long opening one connection may take.
    pub connect_timeout: Duration,
    /// How long a lookup may wait for a free pooled connection.
    pub wait_timeout: Duration,
    /// How long one statement may run, enforced by the server and by the client.
    pub statement_timeout: Duration,
    /// What stands between the service and the server.
    pub pooler: Pooler,
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &"<redacted>")
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("wait_timeout", &self.wait_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("pooler", &self.pooler)
            .finish()
    }
}

/// Why the store could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgSetupError {
    /// The URL could not be parsed; the reason never repeats the URL.
    InvalidUrl(String),
    /// The URL asks for TLS, which this build does not speak.
    TlsRequired,
    /// The pool could not be built.
    Pool(String),
    /// The database did not answer while the service needed a fact from it to start.
    Unreachable(String),
    /// The time-series tables are missing or empty of facts: nothing was imported.
    NotImported,
    /// The login may not read a table the service needs (SQLSTATE 42501): a missing grant,
    /// not missing data.
    PermissionDenied {
        /// The table.
        table: &'static str,
        /// The server's message.
        reason: String,
    },
    /// The samples were imported before rollups existed, or by another rollup layout.
    RollupsMissing,
}

impl fmt::Display for PgSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgSetupError::InvalidUrl(reason) => write!(f, "the database URL is not valid: {reason}"),
            PgSetupError::TlsRequired => f.write_str(
                "the database URL requires TLS (sslmode=require), which this service does not support; use sslmode=disable or prefer on a trusted network",
            ),
            PgSetupError::Pool(reason) => write!(f, "the connection pool could not be built: {reason}"),
            PgSetupError::Unreachable(reason) => write!(f, "the database did not answer: {reason}"),
            PgSetupError::NotImported => f.write_str(
                "the database has no imported power samples (power_sample_facts is missing or empty); run `cargo xtask import --from FILE`",
            ),
            PgSetupError::PermissionDenied { table, reason } => write!(
                f,
                "the database login may not read {table}: {reason}; grant it SELECT on the time-series tables, as db/timeseries.sql grants insights_reader (GRANT insights_reader TO <login>)",
            ),
            PgSetupError::RollupsMissing => f.write_str(
                "the power samples have no rollups of this version's layout; run `cargo xtask rollup --rebuild` (or any import) once",
            ),
        }
    }
}

impl std::error::Error for PgSetupError {}

/// A connection pool with every statement bounded by timeouts, shared by the stores.
#[derive(Clone)]
pub(crate) struct Database {
    pool: HomedPool,
    statement_timeout: Duration,
    /// With [`Pooler::Transaction`], what opens each statement's transaction: `BEGIN` and the
    /// session settings as `SET LOCAL`; `None` straight to the server.
    begin: Option<Arc<str>>,
    description: Arc<str>,
    /// How many statements found the server unreachable (no connection, or a connection lost
    /// or ended by the server), as apart from busy (a pool wait or a statement too long):
    /// what takes a replica out of rotation (`replicas.rs`).
    unreachable: Arc<std::sync::atomic::AtomicU64>,
    /// The rollups' watermark as this server last told it, shared by the pool's clones.
    watermark: Arc<Watermark>,
}

/// How long a server's watermark is reused before it is read again. A watermark older than
/// the server's only makes a read take quarters where coarser rows already exist, so any age
/// is correct; this one costs one small statement a second.
const WATERMARK_REUSE: Duration = Duration::from_secs(1);

/// Two facts of `power_sample_facts` by name (`$1`, `$2`), each null when absent.
const FACTS: &str = "SELECT (SELECT value FROM power_sample_facts WHERE name = $1) AS first,
                            (SELECT value FROM power_sample_facts WHERE name = $2) AS second";

/// A watermark and when it was read.
#[derive(Debug, Default)]
struct Watermark {
    read: std::sync::Mutex<Option<(i64, std::time::Instant)>>,
}

impl Watermark {
    fn fresh(&self) -> Option<i64> {
        let read = *self
            .read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        read.filter(|(_, at)| at.elapsed() < WATERMARK_REUSE)
            .map(|(value, _)| value)
    }

    fn store(&self, value: i64, at: std::time::Instant) {
        *self
            .read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((value, at));
    }
}

/// The settings every statement runs under, by name and value.
///
/// JIT compilation costs 20 ms and more, and pays off only for statements that run for
/// seconds: the generic plan of a rollup query over a year of partitions is estimated above
/// jit_above_cost and would be compiled on every call, for a 1 ms answer. Custom plans gain
/// nothing either, as every statement's ranges arrive in array parameters the planner cannot
/// look into; with prepared statements, planning each of a connection's first five calls anew
/// cost about a millisecond a call. Unnamed statements are planned at every call whatever the
/// mode; the generic plan is kept there too, so both paths run the plans that were measured.
fn statement_settings(statement_timeout: Duration) -> [(&'static str, String); 3] {
    [
        (
            "statement_timeout",
            statement_timeout.as_millis().to_string(),
        ),
        ("jit", "off".to_owned()),
        ("plan_cache_mode", "force_generic_plan".to_owned()),
    ]
}

/// Why a statement failed, before it is told as a port's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DbError {
    /// Retryable: the database is unreachable, slow, or shutting down.
    Unavailable(String),
    /// Not retryable: the schema or data is not what this service reads.
    Broken(String),
    /// Not retryable: the login lacks a privilege (SQLSTATE 42501), which a grant fixes.
    Denied(String),
}

impl From<DbError> for MetadataError {
    fn from(error: DbError) -> MetadataError {
        match error {
            DbError::Unavailable(reason) => MetadataError::Unavailable { reason },
            DbError::Broken(reason) | DbError::Denied(reason) => {
                MetadataError::Inconsistent { reason }
            }
        }
    }
}

impl From<DbError> for TimeSeriesError {
    fn from(error: DbError) -> TimeSeriesError {
        match error {
            DbError::Unavailable(reason) => TimeSeriesError::Unavailable { reason },
            DbError::Broken(reason) | DbError::Denied(reason) => TimeSeriesError::Failed { reason },
        }
    }
}

impl Database {
    /// Builds the pool. No connection is opened until the first statement, so the service
    /// starts even while the database is down.
    pub(crate) fn new(config: &PgConfig) -> Result<Database, PgSetupError> {
        let mut pg_config: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|error: tokio_postgres::Error| PgSetupError::InvalidUrl(error.to_string()))?;
        if pg_config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
            return Err(PgSetupError::TlsRequired);
        }
        pg_config.connect_timeout(config.connect_timeout);
        let settings = statement_settings(config.statement_timeout);
        let begin = match config.pooler {
            Pooler::None => {
                let options: Vec<String> = settings
                    .iter()
                    .map(|(name, value)| format!("-c {name}={value}"))
                    .collect();
                pg_config.options(options.join(" "));
                None
            }
            // A transaction-mode pooler refuses `options` (PgBouncer: "unsupported startup
            // parameter", SQLSTATE 08P01), and a session's settings would not follow its
            // statements from one server connection to the next anyway.
            Pooler::Transaction => {
                let mut begin = "BEGIN READ ONLY".to_owned();
                for (name, value) in &settings {
                    begin.push_str(&format!("; SET LOCAL {name} = '{value}'"));
                }
                Some(begin.into())
            }
        };
        if pg_config.get_application_name().is_none() {
            pg_config.application_name("insights-service");
        }
        let mut description = describe(&pg_config);
        if config.pooler == Pooler::Transaction {
            description.push_str(", through a transaction-mode pooler");
        }
        let manager = HomedManager(Manager::from_config(
            pg_config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        ));
        let pool = HomedPool::builder(manager)
            .max_size(config.pool_size)
            .wait_timeout(Some(config.wait_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|error| PgSetupError::Pool(error.to_string()))?;
        Ok(Database {
            pool,
            statement_timeout: config.statement_timeout,
            begin,
            description: description.into(),
            unreachable: Arc::default(),
            watermark: Arc::default(),
        })
    }

    /// The rollups' watermark on this server (`i64::MIN` when there is none), in µs since
    /// the epoch: read at most [`WATERMARK_REUSE`] ago, and never from another server, since a
    /// replica's may be behind the primary's. The server's own only grows, so a value read
    /// before a statement is at most the one that statement sees.
    pub(crate) async fn final_before(&self) -> Result<i64, DbError> {
        if let Some(value) = self.watermark.fresh() {
            return Ok(value);
        }
        let asked = std::time::Instant::now();
        let names = (
            crate::layout::FINAL_BEFORE_FACT,
            crate::layout::ROLLUP_VERSION_FACT,
        );
        let rows = self
            .query(FACTS, &[(&names.0, Type::TEXT), (&names.1, Type::TEXT)])
            .await?;
        let fact = |column: usize| {
            rows.first()
                .and_then(|row| row.try_get::<_, Option<i64>>(column).ok().flatten())
        };
        // Checked with the watermark, not only at start-up: an importer of another layout
        // may rewrite the rollups under a running service, whose plans would then read rows
        // that are not there. Retryable, as the service of the matching version will answer.
        let version = fact(1);
        if version != Some(crate::layout::ROLLUP_LAYOUT_VERSION) {
            return Err(DbError::Unavailable(format!(
                "the rollups are now of layout {}, and this service reads layout {}: run the service of that version, or `cargo xtask rollup --rebuild` with this one",
                version.map_or_else(|| "none".to_owned(), |version| version.to_string()),
                crate::layout::ROLLUP_LAYOUT_VERSION
            )));
        }
        let value = fact(0).unwrap_or(i64::MIN);
        self.watermark.store(value, asked);
        Ok(value)
    }

    /// How many statements so far found the server unreachable.
    pub(crate) fn unreachable_count(&self) -> u64 {
        self.unreachable.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count_unreachable(&self, unreachable: bool) {
        if unreachable {
            self.unreachable
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub(crate) fn pool_status(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus {
            max_size: status.max_size,
            size: status.size,
            available: status.available,
            waiting: status.waiting,
        }
    }

    /// Host, port, database and user, never the password.
    pub(crate) fn describe(&self) -> &str {
        &self.description
    }

    /// Runs one statement with every stage bounded by a timeout: prepared once per
    /// connection straight to the server, unnamed in a transaction of its own through a
    /// transaction-mode pooler.
    pub(crate) async fn query(
        &self,
        sql: &'static str,
        params: &[Param<'_>],
    ) -> Result<Vec<Row>, DbError> {
        let client = self.pool.get().await.map_err(|error| {
            // A wait for a free connection is the pool being busy; opening or recycling one
            // that fails is the server out of reach.
            self.count_unreachable(!matches!(
                error,
                PoolError::Timeout(deadpool_postgres::TimeoutType::Wait)
            ));
            pool_error(error)
        })?;
        let driver = |error: tokio_postgres::Error| {
            self.count_unreachable(lost_the_server(&error));
            driver_error(error)
        };
        let read = |error: ReadError| match error {
            ReadError::Driver(error) => driver(error),
            ReadError::HomeStopped => {
                self.count_unreachable(true);
                DbError::Unavailable("the connection stopped with its runtime".to_owned())
            }
        };
        let work = async {
            match &self.begin {
                None => {
                    let statement = client.client().prepare_cached(sql).await.map_err(driver)?;
                    let values = params.iter().map(|(value, _)| *value);
                    let rows = client
                        .client()
                        .query_raw(&statement, values)
                        .await
                        .map_err(driver)?;
                    client.collect(rows).await.map_err(read)
                }
                // The three requests are queued on the connection in this order at the first
                // poll, so they leave in one write and are answered in one round trip; COMMIT
                // is queued even when an answer before it fails or the timeout drops this
                // future, so the connection never goes back to the pool inside a transaction.
                // The rows are read while COMMIT waits behind them: the connection holds
                // COMMIT's answer until they are taken.
                Some(begin) => {
                    let typed = params.iter().map(|(value, kind)| (*value, kind.clone()));
                    let (_, rows, _) = futures_util::future::try_join3(
                        async { client.client().batch_execute(begin).await.map_err(driver) },
                        async {
                            let rows = client
                                .client()
                                .query_typed_raw(sql, typed)
                                .await
                                .map_err(driver)?;
                            client.collect(rows).await.map_err(read)
                        },
                        async {
                            client
                                .client()
                                .batch_execute("COMMIT")
                                .await
                                .map_err(driver)
                        },
                    )
                    .await?;
                    Ok(rows)
                }
            }
        };
        // The server enforces statement_timeout too; this bound also covers a silent network.
        match tokio::time::timeout(self.statement_timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(DbError::Unavailable(format!(
                "no answer within {} ms",
                self.statement_timeout.as_millis()
            ))),
        }
    }
}

/// A connection pool's state, for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStatus {
    /// The most connections the pool opens.
    pub max_size: usize,
    /// The connections open now.
    pub size: usize,
    /// The open connections that are idle.
    pub available: usize,
    /// The requests waiting for a connection.
    pub waiting: usize,
}

/// Metadata read from PostgreSQL through a connection pool.
#[derive(Clone)]
pub struct PgMetadata {
    db: Database,
}

impl fmt::Debug for PgMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgMetadata")
            .field("database", &self.db.description)
            .finish()
    }
}

impl PgMetadata {
    /// Builds the pool. No connection is opened until the first lookup, so the service
    /// starts even while the database is down.
    pub fn new(config: &PgConfig) -> Result<PgMetadata, PgSetupError> {
        Ok(PgMetadata {
            db: Database::new(config)?,
        })
    }

    /// Where the store reads from, for logs: host, port, database and user, never the password.
    pub fn describe(&self) -> &str {
        self.db.describe()
    }

    /// The pool's connections right now, for operators.
    pub fn pool_status(&self) -> PoolStatus {
        self.db.pool_status()
    }

    /// Succeeds when a statement runs on the database now.
    pub async fn check_ready(&self) -> Result<(), MetadataError> {
        self.db
            .query(queries::READY, &[])
            .await
            .map(|_| ())
            .map_err(MetadataError::from)
    }

    /// The settings statements run under, as the server reports them from inside a
    /// statement: `jit`, `plan_cache_mode` and `statement_timeout`, by name. Through a pooler
    /// it tells whether they reached the server connection that ran the statement.
    pub async fn session_settings(&self) -> Result<Vec<(String, String)>, MetadataError> {
        let rows = self.db.query(queries::SESSION_SETTINGS, &[]).await?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get("name").map_err(row_error)?;
                let setting: String = row.try_get("setting").map_err(row_error)?;
                Ok((name, setting))
            })
            .collect()
    }

    /// Fetches a subtree and builds the view `pick` selects from it.
    async fn lookup<T>(
        &self,
        sql: &'static str,
        id: Uuid,
        pick: impl FnOnce(&InMemoryMetadata) -> Option<Arc<T>>,
    ) -> Result<Option<Arc<T>>, MetadataError> {
        let rows = self.db.query(sql, &[(&id, Type::UUID)]).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let catalogue = catalogue_from_rows(&rows)?;
        Ok(pick(&InMemoryMetadata::new(&catalogue)))
    }
}

fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    let user = config.get_user().unwrap_or("(default user)");
    format!("PostgreSQL at {host}:{port}/{database} as {user}")
}

/// Pool failures: timeouts and a closed pool mean the database is unavailable.
fn pool_error(error: PoolError) -> DbError {
    match error {
        PoolError::Backend(error) => driver_error(error),
        PoolError::Timeout(kind) => {
            DbError::Unavailable(format!("connection pool timed out ({kind:?})"))
        }
        other => DbError::Unavailable(other.to_string()),
    }
}

/// Whether a statement's error means the server is out of reach: the connection failed or
/// closed (no SQLSTATE), or the server refused or ended it (class 08, an administrator's or a
/// crash's shutdown, 57P01 to 57P03). A cancelled statement or a recovery conflict is not.
fn lost_the_server(error: &tokio_postgres::Error) -> bool {
    match error.as_db_error() {
        None => true,
        Some(db_error) => {
            let code = db_error.code().code();
            code.starts_with("08") || ["57P01", "57P02", "57P03"].contains(&code)
        }
    }
}

/// A driver error in words: the server's message and SQLSTATE when the server sent one, for
/// `tokio_postgres::Error` alone prints only "db error".
pub(crate) fn describe_sql_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db_error) => format!(
            "{} (SQLSTATE {})",
            db_error.message(),
            db_error.code().code()
        ),
        None => error.to_string(),
    }
}

/// What a driver error means for the caller, by its SQLSTATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// The server cannot serve this login now; retry later (503, readiness fails).
    Unavailable,
    /// The login lacks a privilege, which a grant fixes.
    Denied,
    /// The schema or data is not what this service reads.
    Broken,
}

/// SQLSTATE classes that mean the server cannot serve us now, whatever the statement: it
/// is unreachable, refuses this login or database, lacks resources, or is starting, stopping
/// or in recovery. None of them says anything about the schema or the data, and each clears
/// without a change to the service, so clients get a 503 with `Retry-After`.
const UNAVAILABLE_CLASSES: &[(&str, &str)] = &[
    ("08", "connection exception"),
    (
        "26",
        "invalid SQL statement name: a prepared statement the server connection lacks, as when a pooler in transaction mode runs it on another",
    ),
    ("28", "invalid authorization: a refused login"),
    (
        "40",
        "transaction rollback: a serialization failure or deadlock, and on a replica a query cancelled by a conflict with recovery (40001)",
    ),
    ("3D", "invalid catalog name: the database does not exist"),
    ("53", "insufficient resources: too many connections, disk full, out of memory"),
    (
        "55",
        "object not in prerequisite state: a database that does not accept connections (55000), a lock not available",
    ),
    (
        "57",
        "operator intervention: cancelled, an admin shutdown (57P01), starting up, shutting down or in recovery (57P03)",
    ),
];

/// Classifies a SQLSTATE: by its class (the first two characters) where the class decides,
/// and 42501 (insufficient privilege) on its own, as a missing grant, not broken data.
fn classify(sqlstate: &str) -> Class {
    if UNAVAILABLE_CLASSES
        .iter()
        .any(|(class, _)| sqlstate.get(..2) == Some(*class))
    {
        Class::Unavailable
    } else if sqlstate == "42501" {
        Class::Denied
    } else {
        Class::Broken
    }
}

/// Driver failures. Without a SQLSTATE the server never answered (a refused connection, a
/// host that does not resolve, a connection cut): retryable. With one, [`classify`] decides.
fn driver_error(error: tokio_postgres::Error) -> DbError {
    let Some(db_error) = error.as_db_error() else {
        return DbError::Unavailable(error.to_string());
    };
    let code = db_error.code().code();
    let reason = if code.starts_with("28") {
        format!(
            "the database refused the login: {}; check the user and password in the URL and that the role has LOGIN",
            describe_sql_error(&error)
        )
    } else if code.starts_with("26") {
        format!(
            "{}: statements prepared on one server connection ran on another, as through a pooler in transaction mode; set INSIGHTS_DB_POOLER=transaction",
            describe_sql_error(&error)
        )
    } else if db_error
        .message()
        .starts_with("unsupported startup parameter")
    {
        // PgBouncer's answer to the settings sent in `options` (Pooler::None), in any mode.
        format!(
            "{}: a connection pooler such as PgBouncer is in the way; set INSIGHTS_DB_POOLER=transaction",
            describe_sql_error(&error)
        )
    } else {
        describe_sql_error(&error)
    };
    match classify(code) {
        Class::Unavailable => DbError::Unavailable(reason),
        Class::Denied => DbError::Denied(reason),
        Class::Broken => DbError::Broken(reason),
    }
}

/// Folds subtree rows (see `queries::subtree_columns!`) into a catalogue, each entity once.
fn catalogue_from_rows(rows: &[Row]) -> Result<Catalogue, MetadataError> {
    let mut catalogue = Catalogue::default();
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        let column = |name: &str| -> Result<Option<Uuid>, MetadataError> {
            row.try_get(name).map_err(row_error)
        };
        let text =
            |name: &str| -> Result<String, MetadataError> { row.try_get(name).map_err(row_error) };
        if let Some(id) = column("brand_id")? {
            if seen.insert(id) {
                catalogue.brands.push(Brand {
                    id: BrandId(id),
                    name: text("brand_name")?,
                });
            }
        }
        if let Some(id) = column("organization_id")? {
            if seen.insert(id) {
                let brand_id =
                    column("brand_id")?.ok_or_else(|| missing("organization", "brand"))?;
                catalogue.organizations.push(Organization {
                    id: OrganizationId(id),
                    name: text("organization_name")?,
                    brand_id: BrandId(brand_id),
                });
            }
        }
        if let Some(id) = column("location_id")? {
            if seen.insert(id) {
                let organization_id = column("organization_id")?
                    .ok_or_else(|| missing("location", "organization"))?;
                catalogue.locations.push(Location {
                    id: LocationId(id),
                    name: text("location_name")?,
                    organization_id: OrganizationId(organization_id),
                });
            }
        }
        if let Some(id) = column("sensor_id")? {
            if seen.insert(id) {
                let location_id =
                    column("location_id")?.ok_or_else(|| missing("electric sensor", "location"))?;
                catalogue.sensors.push(ElectricSensor {
                    id: SensorId(id),
                    duid: Duid(text("sensor_duid")?),
                    name: text("sensor_name")?,
                    location_id: LocationId(location_id),
                });
            }
        }
        if let Some(id) = column("circuit_id")? {
            if seen.insert(id) {
                let sensor_id =
                    column("sensor_id")?.ok_or_else(|| missing("circuit", "electric sensor"))?;
                let number: i32 = row.try_get("circuit_number").map_err(row_error)?;
                let circuit_number = u32::try_from(number)
                    .ok()
                    .filter(|number| *number > 0)
                    .ok_or_else(|| MetadataError::Inconsistent {
                        reason: format!("circuit {id} has circuit_number {number}"),
                    })?;
                catalogue.circuits.push(Circuit {
                    id: CircuitId(id),
                    name: text("circuit_name")?,
                    circuit_number,
                    sensor_id: SensorId(sensor_id),
                });
            }
        }
    }
    Ok(catalogue)
}

fn row_error(error: tokio_postgres::Error) -> MetadataError {
    MetadataError::Inconsistent {
        reason: format!("unexpected row shape: {error}"),
    }
}

fn missing(child: &str, parent: &str) -> MetadataError {
    MetadataError::Inconsistent {
        reason: format!("a {child} row came without its {parent}"),
    }
}

impl MetadataRepo for PgMetadata {
    fn circuit(
        &self,
        id: CircuitId,
    ) -> impl Future<Output = Result<Option<Arc<CircuitContext>>, MetadataError>> + Send {
        self.lookup(queries::CIRCUIT, id.0, move |store| store.find_circuit(id))
    }

    fn organization(
        &self,
        id: OrganizationId,
    ) -> impl Future<Output = Result<Option<Arc<OrganizationTree>>, MetadataError>> + Send {
        self.lookup(queries::ORGANIZATION, id.0, move |store| {
            store.find_organization(id)
        })
    }

    fn sensor(
        &self,
        id: SensorId,
    ) -> impl Future<Output = Result<Option<Arc<SensorDetail>>, MetadataError>> + Send {
        self.lookup(queries::SENSOR, id.0, move |store| store.find_sensor(id))
    }

    fn location(
        &self,
        id: LocationId,
    ) -> impl Future<Output = Result<Option<Arc<LocationSummary>>, MetadataError>> + Send {
        self.lookup(queries::LOCATION, id.0, move |store| {
            store.find_location(id)
        })
    }

    fn brand(
        &self,
        id: BrandId,
    ) -> impl Future<Output = Result<Option<Arc<BrandTree>>, MetadataError>> + Send {
        self.lookup(queries::BRAND, id.0, move |store| store.find_brand(id))
    }

    async fn circuit_series(&self) -> Result<Vec<SeriesKey>, MetadataError> {
        let rows = self.db.query(queries::CIRCUIT_SERIES, &[]).await?;
        rows.iter()
            .map(|row| {
                let duid: String = row.try_get("duid").map_err(row_error)?;
                let number: i32 = row.try_get("circuit_number").map_err(row_error)?;
                let circuit_number =
                    u32::try_from(number).map_err(|_| MetadataError::Inconsistent {
                        reason: format!("a circuit of {duid} has circuit_number {number}"),
                    })?;
                Ok(SeriesKey {
                    duid: Duid(duid),
                    circuit_number,
                })
            })
            .collect()
    }

    async fn brands(&self) -> Result<Vec<Brand>, MetadataError> {
        let rows = self.db.query(queries::BRANDS, &[]).await?;
        rows.iter()
            .map(|row| {
                let id: Uuid = row.try_get("id").map_err(row_error)?;
                let name: String = row.try_get("name").map_err(row_error)?;
                Ok(Brand {
                    id: BrandId(id),
                    name,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{classify, Class};

    #[test]
    fn sqlstates_are_classified_by_class() {
        let check = |sqlstate: &str, expected: Class| {
            assert_eq!(classify(sqlstate), expected, "SQLSTATE {sqlstate}");
        };
        // The ways a server can be unavailable, each of them produced against a real server
        // by the integration tests but for the ones a test cannot cheaply bring about.
        for sqlstate in [
            "08000", // connection exception
            "08001", // the client could not establish a connection
            "08003", // connection does not exist
            "08006", // connection failure
            "08P01", // protocol violation; PgBouncer's own errors
            "26000", // a prepared statement missing on a pooler's server connection
            "28000", // invalid authorization: a role without LOGIN
            "28P01", // a wrong password
            "3D000", // the database does not exist
            "40001", // serialization failure; a replica's query cancelled by recovery
            "40P01", // deadlock detected
            "53000", // insufficient resources
            "53100", // disk full
            "53200", // out of memory
            "53300", // too many connections
            "55000", // the database is not currently accepting connections
            "55006", // object in use
            "55P03", // lock not available
            "57000", // operator intervention
            "57014", // query cancelled (statement_timeout on the server)
            "57P01", // admin shutdown: pg_terminate_backend, a fast shutdown
            "57P02", // crash shutdown
            "57P03", // cannot connect now: starting up, shutting down, in recovery
            "57P04", // database dropped
            "57P05", // idle session timeout
        ] {
            check(sqlstate, Class::Unavailable);
        }
        check("42501", Class::Denied);
        // Everything else says the schema or the data is not what this service reads.
        for sqlstate in [
            "42P01", // undefined table
            "42703", // undefined column
            "42883", // undefined function
            "42000", // the rest of class 42 but 42501
            "22P02", // invalid text representation
            "23505", // unique violation
            "XX000", // internal error
            "58030", // I/O error
            "", "5",
        ] {
            check(sqlstate, Class::Broken);
        }
    }
}
