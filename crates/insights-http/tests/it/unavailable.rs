//! Every way a PostgreSQL server can be unavailable, for each store that can live on one (the
//! metadata store and the time-series source): every answer that needs the store is a 503
//! problem with `Retry-After`, never a 500; `/readyz` is 503 and names the store; answers
//! that need only the other store are unaffected; and the service answers again once the
//! server does, without a restart. Each condition is brought about on a real server.

use std::time::Duration;

use insights_testdb::{ScratchCluster, TestDb};
use serde_json::json;

use crate::errors::problem;
use crate::proxy::Proxy;
use crate::support::{Answer, TestApp};

const USAGE: &str = "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z";
const DATA_RANGE: &str = "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/data-range";
const SENSOR: &str = "/v1/electric_sensors/785097c8-2b34-410a-a8ea-bcaf10791c45";
const BRAND: &str = "/v1/brands/11111111-1111-1111-1111-111111111111/metadata";

/// A store that can be on PostgreSQL. The other one is then the embedded catalogue or the
/// shipped sample file.
#[derive(Clone, Copy, Debug)]
enum Store {
    Metadata,
    Samples,
}

impl Store {
    const BOTH: [Store; 2] = [Store::Metadata, Store::Samples];

    /// The requests that need this store.
    fn needed_by(self) -> &'static [&'static str] {
        match self {
            Store::Metadata => &[USAGE, DATA_RANGE, SENSOR, BRAND],
            Store::Samples => &[USAGE, DATA_RANGE],
        }
    }

    /// The requests that need only the other store.
    fn not_needed_by(self) -> &'static [&'static str] {
        match self {
            Store::Metadata => &[],
            Store::Samples => &[SENSOR, BRAND],
        }
    }

    /// The whole body of `/readyz` while this store cannot answer.
    fn not_ready(self) -> serde_json::Value {
        let name = match self {
            Store::Metadata => "metadata store",
            Store::Samples => "time-series source",
        };
        json!({
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": format!("The {name} cannot answer; retry after the Retry-After delay."),
        })
    }

    /// The settings that put this store on `url`, with short timeouts but for the
    /// statement's (`statement_ms`), and nothing cached.
    fn settings(self, url: &str, statement_ms: &str) -> Vec<(&'static str, String)> {
        let mut settings = match self {
            Store::Metadata => vec![
                ("DATABASE_URL", url.to_owned()),
                ("INSIGHTS_CACHE_TTL_S", "0".to_owned()),
            ],
            Store::Samples => vec![
                ("INSIGHTS_TIMESERIES", "postgres".to_owned()),
                ("INSIGHTS_TIMESERIES_URL", url.to_owned()),
            ],
        };
        settings.extend([
            ("INSIGHTS_DB_POOL_SIZE", "4".to_owned()),
            ("INSIGHTS_DB_CONNECT_TIMEOUT_MS", "2000".to_owned()),
            ("INSIGHTS_DB_WAIT_TIMEOUT_MS", "2000".to_owned()),
            ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", statement_ms.to_owned()),
            ("INSIGHTS_REQUEST_TIMEOUT_MS", "60000".to_owned()),
        ]);
        settings
    }

    /// Serves this store from `url`, after importing a sample through `admin_url` when it is
    /// the time-series source (which reads the import's facts when it starts).
    async fn serve(self, admin_url: &str, url: &str, statement_ms: &str) -> TestApp {
        if let Store::Samples = self {
            let key = insights_core::SeriesKey {
                duid: insights_core::Duid("6D12E310B371FCB1".to_owned()),
                circuit_number: 1,
            };
            let at = crate::oracle::instant("2024-04-01T03:00:00Z") as i64;
            insights_pg::import(admin_url, std::iter::once((key, at, 100.0)))
                .await
                .expect("the import succeeds");
        }
        let settings = self.settings(url, statement_ms);
        let settings: Vec<(&str, &str)> = settings
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        TestApp::spawn_settings(&settings).await
    }

    /// Checks the service while this store cannot answer.
    async fn assert_unavailable(self, app: &TestApp, condition: &str) {
        for path in self.needed_by() {
            assert_unavailable(
                &app.get(path).await,
                &format!("{condition}, {self:?}: {path}"),
            );
        }
        for path in self.not_needed_by() {
            assert_eq!(
                app.get(path).await.status,
                200,
                "{condition}, {self:?}: {path}"
            );
        }
        let ready = app.get("/readyz").await;
        assert_eq!(
            (
                ready.status,
                ready.content_type.as_str(),
                ready.retry_after.as_deref(),
                ready.json()
            ),
            (503, "application/problem+json", Some("2"), self.not_ready()),
            "{condition}, {self:?}: /readyz"
        );
    }
}

/// A 503 problem with `Retry-After`, whose body tells nothing of the cause.
fn assert_unavailable(answer: &Answer, context: &str) {
    assert_eq!(
        (
            answer.status,
            answer.content_type.as_str(),
            answer.retry_after.as_deref()
        ),
        (503, "application/problem+json", Some("2")),
        "{context}: {}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(
        answer.json(),
        problem(
            503,
            "Service Unavailable",
            "A dependency of the service is unavailable; retry after the Retry-After delay."
        ),
        "{context}"
    );
}

/// Asks until the service answers 200 again, for usage and then `/readyz`: the pool may
/// hand out each connection the outage left dead once more, which is a 503 too, never a 500.
async fn assert_recovered(app: &TestApp, context: &str) {
    for path in [USAGE, "/readyz"] {
        let mut statuses = Vec::new();
        let mut answer = app.get(path).await;
        for _ in 0..5 {
            statuses.push(answer.status);
            if answer.status == 200 {
                break;
            }
            if path == USAGE {
                assert_unavailable(&answer, context);
            } else {
                // Readiness names the store that failed in its own words.
                assert_eq!(
                    (answer.status, answer.retry_after.is_some()),
                    (503, true),
                    "{context} {path}"
                );
            }
            answer = app.get(path).await;
        }
        assert_eq!(
            statuses.last(),
            Some(&200),
            "{context} {path}: {statuses:?}"
        );
        if path == "/readyz" {
            assert_eq!(answer.json(), json!({"status": "ready"}), "{context}");
        }
    }
}

/// The conditions a scratch database on the shared server can be put in, behind a proxy.
#[derive(Clone, Copy, Debug)]
enum Outage {
    /// Nothing listens: the proxy refuses connections and cuts the open ones.
    ConnectionRefused,
    /// `ALTER DATABASE … ALLOW_CONNECTIONS false` (SQLSTATE 55000), issue 28's trial.
    DatabaseClosed,
    /// The login's role may open no connection: too many connections (SQLSTATE 53300).
    TooManyConnections,
    /// The login's role loses `LOGIN`: a refused login (SQLSTATE 28000).
    LoginRefused,
}

impl Outage {
    const ALL: [Outage; 4] = [
        Outage::ConnectionRefused,
        Outage::DatabaseClosed,
        Outage::TooManyConnections,
        Outage::LoginRefused,
    ];

    /// Puts the server in this condition, and ends the connections opened before it.
    fn begin(self, db: &TestDb, role: &str, proxy: &Proxy) {
        let sql = match self {
            Outage::ConnectionRefused => return proxy.cut(),
            Outage::DatabaseClosed => {
                format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", db.name())
            }
            Outage::TooManyConnections => format!("ALTER ROLE {role} CONNECTION LIMIT 0"),
            Outage::LoginRefused => format!("ALTER ROLE {role} NOLOGIN"),
        };
        db.execute_as_admin(&sql);
        db.end_connections();
    }

    async fn end(self, db: &TestDb, role: &str, proxy: &Proxy) {
        let sql = match self {
            Outage::ConnectionRefused => return proxy.restore().await,
            Outage::DatabaseClosed => {
                format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", db.name())
            }
            Outage::TooManyConnections => format!("ALTER ROLE {role} CONNECTION LIMIT -1"),
            Outage::LoginRefused => format!("ALTER ROLE {role} LOGIN"),
        };
        db.execute_as_admin(&sql);
    }
}

#[actix_web::test]
async fn a_refused_connection_database_role_or_login_is_503_for_each_store() {
    for store in Store::BOTH {
        for outage in Outage::ALL {
            let context = format!("{outage:?}");
            let db = TestDb::new();
            // A login of the reader role, as deployed; roles belong to the whole server, so
            // this one is named after the scratch database and dropped after.
            let role = format!("app_{}", db.name());
            db.execute(&format!("CREATE ROLE {role} LOGIN IN ROLE insights_reader"));
            let (host, port) = db.host_port();
            let proxy = Proxy::start(format!("{host}:{port}")).await;
            let url = format!(
                "host=127.0.0.1 port={} user={role} dbname={}",
                proxy.port,
                db.name()
            );
            let app = store.serve(db.url(), &url, "5000").await;
            assert_recovered(&app, &context).await;
            outage.begin(&db, &role, &proxy);
            store.assert_unavailable(&app, &context).await;
            outage.end(&db, &role, &proxy).await;
            assert_recovered(&app, &context).await;
            drop(app);
            db.drop_with_role(&role);
        }
    }
}

#[actix_web::test]
async fn a_statement_ended_by_an_operator_is_503_for_each_store() {
    // pg_terminate_backend ends a session with SQLSTATE 57P01 (admin shutdown); only a
    // statement in flight receives it, so the service's statement first waits on a lock the
    // test holds, on a table every statement of the store reads.
    for (store, table) in [
        (Store::Metadata, "circuits"),
        (Store::Samples, "power_series_intervals"),
    ] {
        let db = TestDb::new();
        let app = store.serve(db.url(), db.url(), "60000").await;
        assert_recovered(&app, "before").await;
        let (holder, holder_driver) = session(db.url()).await;
        // Another session watches: one inside a transaction sees pg_stat_activity as it was
        // when the transaction first read it.
        let (watcher, watcher_driver) = session(db.url()).await;
        let operator = || async {
            // Waits for the service's statement to queue behind the lock, then ends it.
            for _ in 0..3000 {
                let ended: i64 = watcher
                    .query_one(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
                        &[],
                    )
                    .await
                    .unwrap()
                    .get(0);
                if ended > 0 {
                    return;
                }
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("no statement of the service waited on {table}");
        };
        // The metadata store's readiness runs `SELECT 1`, which no lock holds up; the
        // time-series source's reads its tables, so it meets the operator too.
        let paths = match store {
            Store::Metadata => [USAGE, SENSOR],
            Store::Samples => [USAGE, "/readyz"],
        };
        for path in paths {
            holder
                .batch_execute(&format!(
                    "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
                ))
                .await
                .unwrap();
            let (answer, ()) = tokio::join!(app.get(path), operator());
            if path == "/readyz" {
                assert_eq!(
                    (answer.status, answer.retry_after.as_deref(), answer.json()),
                    (503, Some("2"), store.not_ready()),
                    "{store:?}"
                );
            } else {
                assert_unavailable(&answer, &format!("{store:?}: {path}"));
            }
            holder.batch_execute("ROLLBACK").await.unwrap();
            // The pool replaces the ended connection before the next round.
            assert_recovered(&app, &format!("{store:?}, after {path}")).await;
        }
        drop((holder, watcher));
        holder_driver.await.unwrap();
        watcher_driver.await.unwrap();
    }
}

/// A throwaway cluster of this test's own with the seed loaded into its database
/// `insights`.
async fn seeded_cluster() -> ScratchCluster {
    let own = ScratchCluster::create("insights-http-test-cluster");
    let (admin, driver) = session(&own.url("postgres")).await;
    admin
        .batch_execute("CREATE DATABASE insights")
        .await
        .unwrap();
    drop(admin);
    driver.await.unwrap();
    let (seed, driver) = session(&own.url("insights")).await;
    seed.batch_execute(insights_testdb::INIT_SQL).await.unwrap();
    drop(seed);
    driver.await.unwrap();
    own
}

/// Connects to `url`, for a session the test holds.
async fn session(url: &str) -> (tokio_postgres::Client, actix_web::rt::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = actix_web::rt::spawn(async move {
        let _ = connection.await;
    });
    (client, driver)
}

#[actix_web::test]
async fn a_server_that_is_shutting_down_is_503_for_each_store() {
    // A smart shutdown refuses new connections with SQLSTATE 57P03 ("the database system is
    // shutting down") until its open sessions end; the test's session keeps it there.
    for store in Store::BOTH {
        let own = seeded_cluster().await;
        let url = own.url("insights");
        let app = store.serve(&url, &url, "5000").await;
        assert_recovered(&app, "before").await;
        let (admin, _driver) = session(&own.url("postgres")).await;
        // It refuses new connections while it waits for its sessions to end.
        assert_eq!(own.cluster.begin_smart_stop().unwrap(), "57P03");
        admin
            .batch_execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'insights'",
            )
            .await
            .unwrap();
        store.assert_unavailable(&app, "shutting down").await;
        // Once the last session ends the server stops (pg_ctl may find it stopped already);
        // started again, it serves the same service.
        drop(admin);
        let _ = own.cluster.stop("fast");
        own.cluster.start().unwrap();
        assert_recovered(&app, &format!("{store:?}, restarted")).await;
    }
}

#[actix_web::test]
async fn a_host_that_does_not_resolve_is_503_or_a_refusal_to_start() {
    let url = "host=insights-no-such-host.invalid port=5432 user=postgres dbname=postgres";
    // The metadata store opens connections when asked, so the service starts and answers
    // 503 until the name resolves.
    let app = Store::Metadata.serve(url, url, "5000").await;
    Store::Metadata
        .assert_unavailable(&app, "an unresolvable host")
        .await;
    // The time-series source reads the import's facts before it serves, so the service does
    // not start, and says why.
    let settings = Store::Samples.settings(url, "5000");
    let mut values = vec![("INSIGHTS_ADDR", "127.0.0.1:0")];
    values.extend(settings.iter().map(|(name, value)| (*name, value.as_str())));
    let settings = insights_http::Settings::from_lookup(|key| {
        values
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value.to_string())
    })
    .unwrap();
    let refused = insights_http::startup::Application::build(&settings).await;
    assert!(
        matches!(
            refused,
            Err(insights_http::startup::StartupError::Database {
                what: "time-series source",
                error: insights_pg::PgSetupError::Unreachable(_),
            })
        ),
        "{:?}",
        refused.err()
    );
}
