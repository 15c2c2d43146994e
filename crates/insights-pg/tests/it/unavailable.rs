//! Every way a PostgreSQL server can be unavailable, brought about on a real server, is
//! `Unavailable` from both stores (never `Inconsistent` or `Failed`, which are 500s), with
//! the server's reason and SQLSTATE; and both stores answer again once the server does.

use std::time::Duration;

use insights_core::{
    Duid, MetadataError, MetadataRepo, OrganizationId, SeriesKey, TimeSeriesError, TimeSeriesSource,
};
use insights_pg::{PgConfig, PgMetadata, PgSetupError, PgTimeSeries};
use insights_testdb::{ScratchCluster, TestDb};

/// A guard against hanging, not a performance bound: the stores' own timeouts are far
/// shorter.
const HANG_GUARD: Duration = Duration::from_secs(30);

fn east() -> OrganizationId {
    OrganizationId("955c3c4d-3a03-4d79-9655-3871f5ad999d".parse().unwrap())
}

fn series() -> SeriesKey {
    SeriesKey {
        duid: Duid("6D12E310B371FCB1".to_owned()),
        circuit_number: 1,
    }
}

fn config(url: &str, statement_timeout: Duration) -> PgConfig {
    PgConfig {
        url: url.to_owned(),
        pool_size: 2,
        connect_timeout: Duration::from_secs(5),
        wait_timeout: Duration::from_secs(5),
        statement_timeout,
        pooler: insights_pg::Pooler::None,
    }
}

/// Both stores on one database: the metadata store and the time-series source.
struct Stores {
    metadata: PgMetadata,
    samples: PgTimeSeries,
}

impl Stores {
    /// Imports one sample (so the time-series source can start) and opens both stores.
    async fn open(admin_url: &str, url: &str, statement_timeout: Duration) -> Stores {
        insights_pg::import(
            admin_url,
            [(series(), 1_711_929_600_000_000_000, 5.0)].into_iter(),
        )
        .await
        .expect("the import succeeds");
        let config = config(url, statement_timeout);
        Stores {
            metadata: PgMetadata::new(&config).unwrap(),
            samples: PgTimeSeries::connect(&config).await.unwrap(),
        }
    }

    /// Each store's answer, as `Ok` or the reason of `Unavailable`. Any other error fails
    /// the test: it would be a 500.
    async fn answers(&self) -> [Result<(), String>; 3] {
        let lookup = tokio::time::timeout(HANG_GUARD, self.metadata.organization(east()))
            .await
            .expect("the metadata store does not hang");
        let ready = tokio::time::timeout(HANG_GUARD, self.metadata.check_ready())
            .await
            .expect("the metadata store does not hang");
        let extent = tokio::time::timeout(HANG_GUARD, self.samples.extent(&[series()]))
            .await
            .expect("the time-series source does not hang");
        let metadata = |answer: Result<(), MetadataError>| match answer {
            Ok(()) => Ok(()),
            Err(MetadataError::Unavailable { reason }) => Err(reason),
            Err(other) => panic!("the metadata store answered {other:?}, not Unavailable"),
        };
        let samples = match extent {
            Ok(extent) => {
                assert!(extent.is_some());
                Ok(())
            }
            Err(TimeSeriesError::Unavailable { reason }) => Err(reason),
            Err(other) => panic!("the time-series source answered {other:?}, not Unavailable"),
        };
        [
            metadata(lookup.map(|found| assert!(found.is_some()))),
            metadata(ready),
            samples,
        ]
    }

    /// Asks until every answer is `Unavailable` for `sqlstate`. A connection ended by
    /// [`TestDb::end_connections`] may be met once first, as a closed connection or
    /// SQLSTATE 57P01; that is `Unavailable` too.
    async fn assert_unavailable(&self, sqlstate: &str) {
        let expected = format!("(SQLSTATE {sqlstate})");
        let mut seen = Vec::new();
        for _ in 0..5 {
            let answers = self.answers().await;
            if answers.iter().all(|answer| {
                answer
                    .as_ref()
                    .is_err_and(|reason| reason.contains(&expected))
            }) {
                return;
            }
            seen.push(answers);
        }
        panic!("not every answer was Unavailable with {expected}: {seen:#?}");
    }

    /// Asks until every answer is `Ok`: the pool replaces what the outage left dead.
    async fn assert_recovered(&self) {
        let mut seen = Vec::new();
        for _ in 0..5 {
            let answers = self.answers().await;
            if answers.iter().all(Result::is_ok) {
                return;
            }
            seen.push(answers);
        }
        panic!("the stores did not recover: {seen:#?}");
    }
}

/// The conditions a scratch database on the shared server can be put in.
#[derive(Clone, Copy, Debug)]
enum Outage {
    /// `ALTER DATABASE … ALLOW_CONNECTIONS false`.
    DatabaseClosed,
    /// The login's role may open no connection (`CONNECTION LIMIT 0`).
    TooManyConnections,
    /// The login's role loses `LOGIN`.
    LoginRefused,
}

impl Outage {
    const ALL: [Outage; 3] = [
        Outage::DatabaseClosed,
        Outage::TooManyConnections,
        Outage::LoginRefused,
    ];

    fn sqlstate(self) -> &'static str {
        match self {
            Outage::DatabaseClosed => "55000",
            Outage::TooManyConnections => "53300",
            Outage::LoginRefused => "28000",
        }
    }

    /// Puts the server in this condition, and ends the connections opened before it.
    fn begin(self, db: &TestDb, role: &str) {
        db.execute_as_admin(&match self {
            Outage::DatabaseClosed => {
                format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", db.name())
            }
            Outage::TooManyConnections => format!("ALTER ROLE {role} CONNECTION LIMIT 0"),
            Outage::LoginRefused => format!("ALTER ROLE {role} NOLOGIN"),
        });
        db.end_connections();
    }

    fn end(self, db: &TestDb, role: &str) {
        db.execute_as_admin(&match self {
            Outage::DatabaseClosed => {
                format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", db.name())
            }
            Outage::TooManyConnections => format!("ALTER ROLE {role} CONNECTION LIMIT -1"),
            Outage::LoginRefused => format!("ALTER ROLE {role} LOGIN"),
        });
    }
}

#[tokio::test]
async fn a_refused_database_role_or_login_is_unavailable_from_both_stores() {
    for outage in Outage::ALL {
        let db = TestDb::new();
        // A login of the reader role, as deployed; roles belong to the whole server, so this
        // one is named after the scratch database and dropped after.
        let role = format!("app_{}", db.name());
        db.execute(&format!("CREATE ROLE {role} LOGIN IN ROLE insights_reader"));
        let (host, port) = db.host_port();
        let url = format!("host={host} port={port} user={role} dbname={}", db.name());
        let stores = Stores::open(db.url(), &url, Duration::from_secs(5)).await;
        stores.assert_recovered().await;
        outage.begin(&db, &role);
        stores.assert_unavailable(outage.sqlstate()).await;
        outage.end(&db, &role);
        stores.assert_recovered().await;
        drop(stores);
        db.drop_with_role(&role);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_ended_by_an_operator_is_unavailable_from_both_stores() {
    // pg_terminate_backend ends a session with SQLSTATE 57P01 (admin shutdown); only a
    // statement in flight receives it, so each store's statement first waits on a lock the
    // test holds.
    let db = TestDb::new();
    let stores = Stores::open(db.url(), db.url(), Duration::from_secs(60)).await;
    stores.assert_recovered().await;
    for table in ["organizations", "power_samples"] {
        let (holder, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        let driver = tokio::spawn(connection);
        holder
            .batch_execute(&format!(
                "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
            ))
            .await
            .unwrap();
        // Another session watches: one inside a transaction sees pg_stat_activity as it was
        // when the transaction first read it.
        let (watcher, watcher_driver) = session(db.url()).await;
        let answer = async {
            if table == "organizations" {
                match stores.metadata.organization(east()).await {
                    Err(MetadataError::Unavailable { reason }) => reason,
                    other => panic!("expected Unavailable, got {other:?}"),
                }
            } else {
                match stores.samples.extent(&[series()]).await {
                    Err(TimeSeriesError::Unavailable { reason }) => reason,
                    other => panic!("expected Unavailable, got {other:?}"),
                }
            }
        };
        let operator = async {
            // Waits for the store's statement to queue behind the lock, then ends it.
            for _ in 0..3000 {
                let ended = watcher
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
                        &[],
                    )
                    .await
                    .unwrap()
                    .get::<_, i64>(0);
                if ended > 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("no statement waited on {table}");
        };
        let (reason, ()) =
            tokio::time::timeout(HANG_GUARD, async { tokio::join!(answer, operator) })
                .await
                .expect("the store does not hang");
        assert!(reason.contains("(SQLSTATE 57P01)"), "{table}: {reason}");
        holder.batch_execute("ROLLBACK").await.unwrap();
        drop((holder, watcher));
        driver.await.unwrap().unwrap();
        watcher_driver.await.unwrap();
        stores.assert_recovered().await;
    }
}

/// Connects to `url`, for a session the test holds.
async fn session(url: &str) -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, driver)
}

#[tokio::test]
async fn a_server_that_is_shutting_down_is_unavailable_from_both_stores() {
    // A smart shutdown refuses new connections with SQLSTATE 57P03 ("the database system is
    // shutting down") until its open sessions end; the test's session keeps it there.
    let own = ScratchCluster::create("insights-pg-test-cluster");
    let (admin, _driver) = session(&own.url("postgres")).await;
    admin
        .batch_execute("CREATE DATABASE insights")
        .await
        .unwrap();
    let url = own.url("insights");
    let (seed, seed_driver) = session(&url).await;
    seed.batch_execute(insights_testdb::INIT_SQL).await.unwrap();
    drop(seed);
    seed_driver.await.unwrap();
    let stores = Stores::open(&url, &url, Duration::from_secs(5)).await;
    stores.assert_recovered().await;

    // It refuses new connections while it waits for its sessions to end.
    assert_eq!(own.cluster.begin_smart_stop().unwrap(), "57P03");
    admin
        .batch_execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'insights'",
        )
        .await
        .unwrap();
    stores.assert_unavailable("57P03").await;

    // Once the last session ends the server stops, and once it is started again both
    // stores answer without being rebuilt.
    drop(admin);
    own.cluster.stop("fast").unwrap();
    own.cluster.start().unwrap();
    stores.assert_recovered().await;
}

#[tokio::test]
async fn a_host_that_does_not_resolve_is_unavailable_or_unreachable() {
    let url = "host=insights-no-such-host.invalid port=5432 user=postgres dbname=postgres";
    let metadata = PgMetadata::new(&config(url, Duration::from_secs(5))).unwrap();
    for answer in [
        tokio::time::timeout(HANG_GUARD, metadata.organization(east()))
            .await
            .expect("the store does not hang")
            .map(|_| ()),
        tokio::time::timeout(HANG_GUARD, metadata.check_ready())
            .await
            .expect("the store does not hang"),
    ] {
        assert!(
            matches!(answer, Err(MetadataError::Unavailable { .. })),
            "{answer:?}"
        );
    }
    // The time-series source reads facts before it serves, so the service does not start.
    let samples = tokio::time::timeout(
        HANG_GUARD,
        PgTimeSeries::connect(&config(url, Duration::from_secs(5))),
    )
    .await
    .expect("the source does not hang");
    assert!(
        matches!(samples, Err(PgSetupError::Unreachable(_))),
        "{samples:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_keeps_the_time_series_source_from_starting() {
    // Nothing listens on a port that was just freed. (The metadata store's answer to this
    // is in outage.rs.)
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("host=127.0.0.1 port={port} user=postgres dbname=postgres");
    let samples = tokio::time::timeout(
        HANG_GUARD,
        PgTimeSeries::connect(&config(&url, Duration::from_secs(5))),
    )
    .await
    .expect("the source does not hang");
    assert!(
        matches!(samples, Err(PgSetupError::Unreachable(_))),
        "{samples:?}"
    );
}
