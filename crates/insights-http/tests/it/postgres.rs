//! PostgreSQL mode: the same bytes as embedded mode, 503s during an outage, recovery without
//! a restart, and hostile input that changes nothing.

use std::time::Duration;

use insights_testdb::{Lcg, TestDb};

use crate::proxy::Proxy;
use crate::support::TestApp;

const CACHED: Duration = Duration::from_secs(60);
const UNCACHED: Duration = Duration::ZERO;

/// The shipped sample file.
pub(crate) fn shipped_file() -> &'static std::path::Path {
    std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/mock_timeseries.json"
    ))
}

/// Requests covering every endpoint, answers and errors alike.
const REQUESTS: &[&str] = &[
    "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z",
    "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-04-01T05:30:30.5%2B05:30&end=2024-04-01T03:17:00.123456789-04:00",
    "/v1/insights/circuits/653e685f-5b54-5ff1-8baf-3be74d7d6d79/usage?start=2030-01-01T00:00:00Z&end=2030-01-02T00:00:00Z",
    "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z",
    "/v1/insights/organizations/719aeacd-dc94-4476-874b-0d178d8c0c48/usage?start=2024-04-01T06:15:10.25Z&end=2024-04-01T09:00:00Z",
    "/v1/insights/organizations/eac7fee9-07d9-4882-93f5-14f11d3f7b89/usage?start=2024-03-01T00:00:00Z&end=2024-05-01T00:00:00Z",
    "/v1/electric_sensors/785097c8-2b34-410a-a8ea-bcaf10791c45",
    "/v1/electric_sensors/1f223a7e-cde6-4bf2-9cdb-281423841e7e",
    "/v1/locations/ea125f67-6b94-4992-8eb9-d832ae026106/circuit-summary",
    "/v1/locations/079f2808-5770-44e6-b2d8-ee44bf76e3de/circuit-summary",
    "/v1/brands/11111111-1111-1111-1111-111111111111/metadata",
    "/v1/insights/circuits/00000000-0000-4000-8000-000000000000/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z",
    "/v1/insights/organizations/00000000-0000-4000-8000-000000000000/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z",
    "/v1/electric_sensors/00000000-0000-4000-8000-000000000000",
    "/v1/locations/00000000-0000-4000-8000-000000000000/circuit-summary",
    "/v1/brands/00000000-0000-4000-8000-000000000000/metadata",
    "/v1/brands/not-a-uuid/metadata",
    "/v1/brands",
    "/v1/insights/data-range",
    "/v1/insights/brands/11111111-1111-1111-1111-111111111111/data-range",
    "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/data-range",
    "/v1/insights/locations/ea125f67-6b94-4992-8eb9-d832ae026106/data-range",
    "/v1/insights/sensors/785097c8-2b34-410a-a8ea-bcaf10791c45/data-range",
    "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/data-range",
    "/v1/insights/organizations/00000000-0000-4000-8000-000000000000/data-range",
    "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-04-02T00:00:00Z&end=2024-04-01T00:00:00Z",
    "/v1/insights/locations/ea125f67-6b94-4992-8eb9-d832ae026106/usage?start=2024-04-01T00:10:00Z&end=2024-04-01T09:00:00Z&bucket=1h&tz=Asia/Kathmandu&demand_interval=15m&top=4",
    "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-03-25T00:00:00Z&end=2024-04-08T00:00:00Z&bucket=1w&tz=America/New_York&top=2",
    "/v1/insights/brands/11111111-1111-1111-1111-111111111111/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&bucket=1d&demand_interval=1h&top=100",
    "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-04-01T00:00:00Z&end=2024-04-01T01:00:00Z&bucket=5m&demand_interval=5m",
    "/v1/insights/brands/11111111-1111-1111-1111-111111111111/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&tz=UTC",
    "/healthz",
    "/readyz",
    "/openapi.json",
];

#[actix_web::test]
async fn every_endpoint_answers_the_same_bytes_as_embedded_mode() {
    let db = TestDb::new();
    let embedded = TestApp::spawn().await;
    let postgres = TestApp::spawn_postgres(db.url(), CACHED).await;
    // Twice: the second round is answered from the cache.
    for request in REQUESTS.iter().chain(REQUESTS) {
        let (expected, actual) = (embedded.get(request).await, postgres.get(request).await);
        assert_eq!(
            (actual.status, &actual.content_type),
            (expected.status, &expected.content_type),
            "{request}"
        );
        assert_eq!(
            String::from_utf8_lossy(&actual.body),
            String::from_utf8_lossy(&expected.body),
            "{request}"
        );
    }
}

#[actix_web::test]
async fn an_outage_is_503_with_retry_after_and_recovery_needs_no_restart() {
    let db = TestDb::new();
    let (host, port) = db.host_port();
    let proxy = Proxy::start(format!("{host}:{port}")).await;
    // Without caching, so every request meets the outage.
    let app = TestApp::spawn_postgres(&db.url_via("127.0.0.1", proxy.port), UNCACHED).await;
    let usage = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z";
    assert_eq!(app.get(usage).await.status, 200);

    proxy.cut();
    assert_eq!(app.get("/healthz").await.status, 200);
    for (path, detail) in [
        (
            "/readyz",
            "The metadata store cannot answer; retry after the Retry-After delay.",
        ),
        (
            usage,
            "A dependency of the service is unavailable; retry after the Retry-After delay.",
        ),
        (
            "/v1/electric_sensors/785097c8-2b34-410a-a8ea-bcaf10791c45",
            "A dependency of the service is unavailable; retry after the Retry-After delay.",
        ),
        (
            "/v1/brands/11111111-1111-1111-1111-111111111111/metadata",
            "A dependency of the service is unavailable; retry after the Retry-After delay.",
        ),
    ] {
        let answer = app.get(path).await;
        assert_eq!(
            (
                answer.status,
                answer.content_type.as_str(),
                answer.retry_after.as_deref()
            ),
            (503, "application/problem+json", Some("2")),
            "{path}"
        );
        assert_eq!(
            answer.json(),
            serde_json::json!({
                "type": "about:blank",
                "title": "Service Unavailable",
                "status": 503,
                "detail": detail
            })
        );
    }

    proxy.restore().await;
    // The first request may meet a connection the cut left dead; it is replaced at once.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let status = app.get(usage).await.status;
        statuses.push(status);
        if status == 200 {
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&200),
        "statuses after recovery: {statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|status| *status == 200 || *status == 503),
        "{statuses:?}"
    );
    assert_eq!(app.get("/readyz").await.status, 200);
}

#[actix_web::test]
async fn injection_attempts_change_nothing() {
    let db = TestDb::new();
    let app = TestApp::spawn_postgres(db.url(), UNCACHED).await;
    let snapshot = || {
        db.query_text("SELECT (SELECT count(*) FROM brands), (SELECT count(*) FROM organizations), (SELECT count(*) FROM locations), (SELECT count(*) FROM electric_sensors), (SELECT count(*) FROM circuits), (SELECT string_agg(name, ',' ORDER BY id) FROM circuits)")
    };
    let before = snapshot();
    let payloads = [
        "'; DROP TABLE circuits; --",
        "1' OR '1'='1",
        "00000000-0000-4000-8000-000000000000' OR 1=1 --",
        "d36e0c8c-d7d4-5740-88c4-dea626057ff1'; DELETE FROM circuits; --",
        "$1",
        "\\x00",
    ];
    for payload in payloads {
        let encoded: String = payload.bytes().map(|byte| format!("%{byte:02X}")).collect();
        for (path, allowed) in [
            (format!("/v1/insights/circuits/{encoded}/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z"), [400, 404]),
            (format!("/v1/insights/organizations/{encoded}/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z"), [400, 404]),
            (format!("/v1/electric_sensors/{encoded}"), [400, 404]),
            (format!("/v1/locations/{encoded}/circuit-summary"), [400, 404]),
            (format!("/v1/brands/{encoded}/metadata"), [400, 404]),
            (format!("/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start={encoded}&end=2024-04-02T00:00:00Z"), [400, 400]),
            (format!("/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-04-01T00:00:00Z&end={encoded}"), [400, 400]),
            (format!("/v1/brands/11111111-1111-1111-1111-111111111111/metadata?{encoded}=1"), [400, 400]),
        ] {
            let answer = app.get(&path).await;
            assert!(allowed.contains(&answer.status), "{path}: {}", answer.status);
            assert_eq!(answer.content_type, "application/problem+json", "{path}");
        }
    }
    assert_eq!(snapshot(), before);
    assert_eq!(
        app.get("/v1/electric_sensors/785097c8-2b34-410a-a8ea-bcaf10791c45")
            .await
            .status,
        200
    );
}

#[actix_web::test]
async fn a_warm_cache_serves_through_an_outage_until_entries_expire() {
    let db = TestDb::new();
    let (host, port) = db.host_port();
    let proxy = Proxy::start(format!("{host}:{port}")).await;
    let app = TestApp::spawn_postgres(&db.url_via("127.0.0.1", proxy.port), CACHED).await;
    let usage = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z";
    let warm = app.get(usage).await;
    assert_eq!(warm.status, 200);
    proxy.cut();
    // Fresh entries are served; readiness tells the truth about the database.
    let during = app.get(usage).await;
    assert_eq!((during.status, during.body), (200, warm.body));
    assert_eq!(app.get("/readyz").await.status, 503);
    assert_eq!(
        app.get("/v1/electric_sensors/785097c8-2b34-410a-a8ea-bcaf10791c45")
            .await
            .status,
        503,
        "never cached"
    );
    proxy.restore().await;
}

/// Imports a sample file as `cargo xtask import` does: the file source's loader, then the
/// PostgreSQL adapter's import.
pub(crate) async fn import(
    file: &std::path::Path,
    url: &str,
) -> Result<insights_pg::ImportReport, insights_pg::ImportError> {
    let source = insights_mockts::MockTimeSeries::from_path(file).expect("the file loads");
    let samples = source
        .samples()
        .map(|(key, at, watts)| (key.clone(), at, watts));
    insights_pg::import(url, samples).await
}

/// A service on the PostgreSQL time-series source, with `file` imported into the database.
async fn postgres_source(db: &TestDb, file: &std::path::Path) -> TestApp {
    import(file, db.url()).await.expect("the import succeeds");
    TestApp::spawn_settings(&[
        ("INSIGHTS_TIMESERIES", "postgres"),
        ("INSIGHTS_TIMESERIES_URL", db.url()),
        ("INSIGHTS_DB_POOL_SIZE", "4"),
        ("INSIGHTS_DB_CONNECT_TIMEOUT_MS", "500"),
        ("INSIGHTS_DB_WAIT_TIMEOUT_MS", "500"),
        ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "5000"),
    ])
    .await
}

/// Usage requests over every insights endpoint and option.
fn usage_requests() -> Vec<&'static str> {
    REQUESTS
        .iter()
        .copied()
        .filter(|request| request.starts_with("/v1/insights/"))
        .chain(ANALYTICS.iter().copied())
        .collect()
}

const ANALYTICS: &[&str] = &[
    "/v1/insights/locations/ea125f67-6b94-4992-8eb9-d832ae026106/usage?start=2024-03-09T00:00:00Z&end=2024-03-12T00:00:00Z&bucket=1h&tz=America/New_York&demand_interval=15m&top=3",
    "/v1/insights/brands/11111111-1111-1111-1111-111111111111/usage?start=2024-03-01T00:00:00Z&end=2024-05-01T00:00:00Z&bucket=1mo&tz=Asia/Kathmandu&demand_interval=1h&top=10",
    "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-03-10T04:59:59.999999999Z&end=2024-03-10T06:00:00.000000001Z&bucket=1m&demand_interval=5m",
    "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-03-10T05:00:00.5Z&end=2024-03-10T05:02:00.5Z",
    "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-03-09T00:00:00Z&end=2024-03-12T00:00:00Z&bucket=30m&tz=Asia/Kolkata",
    "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-03-09T00:00:00Z&end=2024-03-12T00:00:00Z&bucket=1d&tz=America/New_York&baseload=true&top=2",
    "/v1/insights/locations/ea125f67-6b94-4992-8eb9-d832ae026106/usage?start=2024-04-01T20:07:00Z&end=2024-04-02T02:00:00Z&bucket=1h&tz=Asia/Kathmandu&baseload=true&demand_interval=15m",
    "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-03-10T12:00:00Z&end=2024-03-11T12:00:00Z&bucket=1h&tz=America/New_York&compare=previous&top=3&demand_interval=30m",
    "/v1/insights/brands/11111111-1111-1111-1111-111111111111/usage?start=2025-04-01T00:00:00Z&end=2025-04-02T00:00:00Z&bucket=1d&compare=year&baseload=true",
];

pub(crate) async fn assert_same_bytes(file: &TestApp, postgres: &TestApp) {
    let mut answered = 0;
    for request in usage_requests() {
        let (expected, actual) = (file.get(request).await, postgres.get(request).await);
        assert_eq!(actual.status, expected.status, "{request}");
        assert_eq!(
            String::from_utf8_lossy(&actual.body),
            String::from_utf8_lossy(&expected.body),
            "{request}"
        );
        answered += usize::from(expected.status == 200);
    }
    assert!(
        answered >= 12,
        "most requests are answers, not errors: {answered}"
    );
}

#[actix_web::test]
async fn the_postgres_source_answers_the_same_bytes_as_the_file_on_the_shipped_data() {
    let db = TestDb::new();
    let shipped = shipped_file();
    let postgres = postgres_source(&db, shipped).await;
    assert_same_bytes(&TestApp::spawn().await, &postgres).await;
    // Importing again adds nothing.
    let again = import(shipped, db.url()).await.unwrap();
    assert_eq!((again.offered, again.inserted), (51_840, 0));
}

#[actix_web::test]
async fn the_postgres_source_answers_the_same_bytes_with_gaps_and_irregular_spacing() {
    // Integer watts at irregular times (seconds, some sub-second to the microsecond), with
    // gaps, around the 2024 New York DST change, for six circuits.
    let series = [
        ("6D12E310B371FCB1", 1),
        ("6D12E310B371FCB1", 2),
        ("6D12E310B371FCB1", 3),
        ("3E1C019A462D5B3C", 1),
        ("3E1C019A462D5B3C", 2),
        ("9FD4E31C89A9433A", 1),
    ];
    let mut rows = Vec::new();
    let start = crate::oracle::instant("2024-03-09T00:00:00Z");
    for (index, (duid, number)) in series.iter().enumerate() {
        let mut at = start;
        let mut step = 0i128;
        while at < crate::oracle::instant("2024-03-12T00:00:00Z") {
            step += 1;
            // 30 s to 150 s apart, sometimes with microseconds, and an hour's gap now and then.
            let spacing = 30 + (step * 37 + index as i128 * 11) % 121;
            at += spacing * 1_000_000_000 + if step % 7 == 0 { 250_000 } else { 0 };
            if step % 97 < 5 {
                continue;
            }
            let watts = (step * 53 + index as i128 * 17) % 3001;
            rows.push(format!(r#"{{"duid":"{duid}","circuit_number":{number},"timestamp":"{}","power_watts":{watts}}}"#, crate::oracle::utc(at)));
        }
    }
    assert_same_bytes_on(&format!("[{}]", rows.join(",\n"))).await;
}

/// Serves `json` (a sample file's text) from the file source and, imported, from the
/// PostgreSQL source, and checks the two answer every request alike; returns the database.
async fn assert_same_bytes_on(json: &str) -> TestDb {
    let path = std::env::temp_dir().join(format!(
        "insights-parity-{}-{}.json",
        std::process::id(),
        json.len()
    ));
    std::fs::write(&path, json).unwrap();
    let db = TestDb::new();
    let postgres = postgres_source(&db, &path).await;
    let file = TestApp::spawn_with_samples(json).await;
    std::fs::remove_file(&path).unwrap();
    assert_same_bytes(&file, &postgres).await;
    db
}

#[actix_web::test]
async fn the_postgres_source_answers_the_same_bytes_at_the_physical_bounds() {
    // The shipped day with many samples at the bounds, ±1 GW, and fractions just inside:
    // every integer total then runs into the tens of trillions, and no sum may overflow.
    let shipped = include_str!("../../../../data/mock_timeseries.json");
    let mut rows: Vec<serde_json::Value> = serde_json::from_str(shipped).unwrap();
    for (index, row) in rows.iter_mut().enumerate() {
        let watts = match index % 13 {
            0..=5 => serde_json::json!(1_000_000_000),
            6 => serde_json::json!(-1_000_000_000),
            7 => serde_json::json!(999_999_999.75),
            8 => serde_json::json!(-999_999_999.5),
            _ => continue,
        };
        row["power_watts"] = watts;
    }
    let db = assert_same_bytes_on(&serde_json::to_string(&rows).unwrap()).await;
    // Past the bound, the database refuses the row even when written by hand.
    let refused =
        db.try_execute("INSERT INTO power_samples VALUES ('A', 1, '2024-04-01T00:00:00Z', 6e18)");
    assert!(refused.is_err_and(|error| error.contains("check constraint")));
}

#[actix_web::test]
async fn a_login_in_insights_reader_serves_reads_and_is_refused_writes() {
    // The recipe of docs/operations.md, on this scratch database's server. Roles belong to
    // the whole server, so this one is named after the scratch database and dropped after.
    let db = TestDb::new();
    let role = format!("app_{}", db.name());
    db.execute(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'app-secret' IN ROLE insights_reader"
    ));
    let (host, port) = db.host_port();
    let url = format!(
        "host={host} port={port} user={role} password=app-secret dbname={}",
        db.name()
    );
    let app = TestApp::spawn_postgres(&url, UNCACHED).await;
    let embedded = TestApp::spawn().await;
    for request in REQUESTS {
        let (expected, actual) = (embedded.get(request).await, app.get(request).await);
        assert_eq!(actual.status, expected.status, "{request}");
        assert_eq!(actual.body, expected.body, "{request}");
    }
    assert_eq!(app.get("/readyz").await.status, 200);
    // The same login may not write.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = actix_web::rt::spawn(connection);
    let refused = client
        .batch_execute("INSERT INTO brands (id, name) VALUES (gen_random_uuid(), 'Rogue')")
        .await
        .expect_err("a SELECT-only login cannot insert");
    assert_eq!(
        refused.as_db_error().map(|error| error.code().code()),
        Some("42501"),
        "{refused}"
    );
    drop(client);
    let _ = driver.await;
    drop((app, embedded));
    db.drop_with_role(&role);
}

#[actix_web::test]
async fn a_late_sample_changes_the_etag_of_a_settled_window() {
    let db = TestDb::new();
    let shipped = shipped_file();
    let app = postgres_source(&db, shipped).await;
    let window = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-04-01T00:00:00Z&end=2024-04-01T06:00:00Z";
    let before = app.get(window).await;
    assert_eq!(before.cache_control.as_deref(), Some("public, max-age=300"));
    let tag = before.etag.clone().unwrap();
    let revalidated = app
        .request_with("GET", window, &[("If-None-Match", &tag)])
        .await;
    assert_eq!(revalidated.status, 304);
    // A sample arrives late, between two of the window's minutes.
    let key = insights_core::SeriesKey {
        duid: insights_core::Duid("6D12E310B371FCB1".to_owned()),
        circuit_number: 1,
    };
    let at = crate::oracle::instant("2024-04-01T03:00:30Z") as i64;
    let report = insights_pg::import(db.url(), std::iter::once((key, at, 100.0)))
        .await
        .unwrap();
    assert_eq!(report.inserted, 1);
    let after = app
        .request_with("GET", window, &[("If-None-Match", &tag)])
        .await;
    assert_eq!(after.status, 200);
    assert_ne!(after.etag, Some(tag));
    assert_eq!(
        after.json()["usage"]["sample_count"],
        before.json()["usage"]["sample_count"].as_u64().unwrap() + 1
    );
}

/// GETs `path` every 20 ms until `work` ends, and returns the statuses; a read that waited
/// on a lock the work holds would outlive the statement timeout and be a 503.
async fn read_throughout<T>(
    app: &TestApp,
    path: &str,
    work: tokio::task::JoinHandle<T>,
) -> (Vec<u16>, T) {
    let mut statuses = Vec::new();
    while !work.is_finished() {
        statuses.push(app.get(path).await.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (statuses, work.await.unwrap())
}

#[actix_web::test]
async fn reads_never_wait_for_an_import_that_opens_a_month_or_for_a_rebuild() {
    let db = TestDb::new();
    let shipped = shipped_file();
    import(shipped, db.url()).await.unwrap();
    // A statement timeout far below the import's length: a read that waited for it fails.
    let app = TestApp::spawn_settings(&[
        ("INSIGHTS_TIMESERIES", "postgres"),
        ("INSIGHTS_TIMESERIES_URL", db.url()),
        ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "300"),
    ])
    .await;
    let april = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&bucket=1h";
    let before = app.get(april).await;
    assert_eq!(before.status, 200);
    // May, which has no partition yet: every circuit, every minute for six days (at the
    // shipped data's interval: another would change April's energy, issue 26's first finding).
    let source = insights_mockts::MockTimeSeries::from_path(shipped).unwrap();
    let keys: Vec<insights_core::SeriesKey> = source
        .samples()
        .map(|(key, _, _)| key.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let may = crate::oracle::instant("2024-05-01T00:00:00Z") as i64;
    let samples: Vec<(insights_core::SeriesKey, i64, f64)> = (0..6 * 1440)
        .flat_map(|step| {
            keys.iter()
                .map(move |key| (key.clone(), may + step * 60_000_000_000, 250.0))
        })
        .collect();
    let url = db.url().to_owned();
    let importing =
        tokio::spawn(async move { insights_pg::import(&url, samples.into_iter()).await });
    let (statuses, report) = read_throughout(&app, april, importing).await;
    assert_eq!(report.unwrap().inserted, 36 * 6 * 1440);
    assert!(
        statuses.len() >= 5,
        "the import ended too soon to tell: {statuses:?}"
    );
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    // A whole rebuild of the rollups and packs, read throughout too.
    let url = db.url().to_owned();
    let rebuilding = tokio::spawn(async move {
        let mut importer = insights_pg::Importer::connect(&url).await.unwrap();
        importer.rebuild(None, None).await
    });
    let (statuses, days) = read_throughout(&app, april, rebuilding).await;
    assert!(days.unwrap() > 0);
    assert!(
        statuses.len() >= 5,
        "the rebuild ended too soon to tell: {statuses:?}"
    );
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    // And the answer is what it was.
    assert_eq!(app.get(april).await.json(), before.json());
}

/// The shipped samples, plus five more a minute for West-LA's Panel-1 circuit 1 at :10 to :50
/// of every minute, each the value of its minute's sample, and a week more of it every 10 s:
/// a tenant that installs faster sensors, and then has more spacings of 10 s than all others
/// have of a minute.
fn shipped_with_one_fast_circuit() -> String {
    let shipped = include_str!("../../../../data/mock_timeseries.json");
    let mut rows: Vec<serde_json::Value> = serde_json::from_str(shipped).unwrap();
    let fast: Vec<serde_json::Value> = rows
        .iter()
        .filter(|row| row["duid"] == "F04504FF5C35B29D" && row["circuit_number"] == 1)
        .flat_map(|row| {
            let minute = crate::oracle::instant(row["timestamp"].as_str().unwrap());
            (1..6).map(move |tenth| {
                let mut faster = row.clone();
                faster["timestamp"] =
                    serde_json::json!(crate::oracle::utc(minute + tenth * 10_000_000_000));
                faster
            })
        })
        .collect();
    assert_eq!(fast.len(), 5 * 1440);
    rows.extend(fast);
    let week_start = crate::oracle::instant("2024-04-02T00:00:00Z");
    rows.extend((0..7 * 8640).map(|step| {
        serde_json::json!({
            "duid": "F04504FF5C35B29D",
            "circuit_number": 1,
            "timestamp": crate::oracle::utc(week_start + step * 10_000_000_000),
            "power_watts": 500.25,
        })
    }));
    serde_json::to_string(&rows).unwrap()
}

#[actix_web::test]
async fn one_tenants_sample_rate_never_changes_anothers_figures() {
    const EAST: &str = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d";
    const WEST: &str = "/v1/insights/organizations/eac7fee9-07d9-4882-93f5-14f11d3f7b89";
    const DAY: &str = "start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z";
    let shipped = TestApp::spawn().await;
    let faster = shipped_with_one_fast_circuit();
    let file = TestApp::spawn_with_samples(&faster).await;
    // In PostgreSQL the faster samples arrive late, in a second import into days that
    // already hold data.
    let db = TestDb::new();
    let shipped_path = shipped_file();
    let postgres = postgres_source(&db, shipped_path).await;
    let all = crate::support::scratch_file("faster.json", &faster);
    import(&all, db.url())
        .await
        .expect("the late samples import");
    std::fs::remove_file(&all).unwrap();
    for changed in [&file, &postgres] {
        for request in [
            format!("{EAST}/usage?{DAY}&bucket=1h&demand_interval=15m&baseload=true&top=3"),
            format!("{EAST}/data-range"),
        ] {
            let (before, after) = (shipped.get(&request).await, changed.get(&request).await);
            assert_eq!(after.status, 200, "{request}");
            assert_eq!(
                String::from_utf8_lossy(&after.body),
                String::from_utf8_lossy(&before.body),
                "{request}: East's answer does not move when West's sensor reports faster"
            );
        }
        // West's circuit reports six times as often at the same power: the same energy and
        // coverage from six times the samples.
        let request = format!("{WEST}/usage?{DAY}");
        let (before, after) = (
            shipped.get(&request).await.json(),
            changed.get(&request).await.json(),
        );
        let figure = |answer: &serde_json::Value, name: &str| {
            let value = answer["usage"][name].clone();
            assert!(value.is_number(), "{name} in {answer}");
            value
        };
        assert_eq!(figure(&after, "energy_wh"), figure(&before, "energy_wh"));
        assert_eq!(figure(&after, "coverage"), figure(&before, "coverage"));
        assert_eq!(
            figure(&after, "sample_count").as_u64().unwrap(),
            figure(&before, "sample_count").as_u64().unwrap() + 5 * 1440
        );
    }
    assert_same_bytes(&file, &postgres).await;
}

/// Samples as real fleets send them, from `seed`: fractional watts of any size beside whole
/// ones, spacings of 1 s to 5 min jittered to the microsecond, one circuit every 10 s, one
/// that turns from every minute to every 15 s half way, and gaps.
fn fleet_samples(seed: u64) -> String {
    let mut random = Lcg(seed);
    let series = [
        ("6D12E310B371FCB1", 1),
        ("6D12E310B371FCB1", 2),
        ("3E1C019A462D5B3C", 1),
        ("9FD4E31C89A9433A", 3),
        ("F04504FF5C35B29D", 1),
        ("2B62D6A4301367AD", 2),
    ];
    let (start, end) = (
        crate::oracle::instant("2024-03-09T00:00:00Z"),
        crate::oracle::instant("2024-03-11T00:00:00Z"),
    );
    let mut rows = Vec::new();
    for (index, (duid, number)) in series.iter().enumerate() {
        let mut at = start + i128::from(random.below(60)) * 1_000_000_000;
        while at < end {
            let watts = match random.below(6) {
                0 => format!("{}", random.below(5000)),
                1 => format!("{:?}", random.below(1 << 40) as f64 / 1e6),
                2 => format!("{:?}", -(random.below(1000) as f64) / 7.0),
                3 => format!("{:?}", 999_999_999.0 + random.below(1000) as f64 / 1000.0),
                _ => format!("{:?}", random.below(3_000_000) as f64 / 1000.0 + 0.1),
            };
            rows.push(format!(
                r#"{{"duid":"{duid}","circuit_number":{number},"timestamp":"{}","power_watts":{watts}}}"#,
                crate::oracle::utc(at)
            ));
            let seconds = match index {
                0 => 10,
                1 if at >= start + (end - start) / 2 => 15,
                1 => 60,
                _ => match random.below(20) {
                    0 => 300 + random.below(3600),
                    1..=4 => 1 + random.below(299),
                    _ => 60,
                },
            };
            at += i128::from(seconds) * 1_000_000_000 + i128::from(random.below(3)) * 1000;
        }
    }
    format!("[{}]", rows.join(",\n"))
}

#[actix_web::test]
async fn the_postgres_source_answers_the_same_bytes_on_fractional_irregular_fleet_data() {
    for seed in [1, 2] {
        assert_same_bytes_on(&fleet_samples(seed)).await;
    }
}

/// Three instances on one database, as behind a load balancer: every request, asked of each,
/// gets the same status, bytes and validators, so a client's `If-None-Match` from one
/// instance is honoured by the next, and a cache shared between them stays coherent.
#[actix_web::test]
async fn three_instances_on_one_database_answer_alike() {
    let db = TestDb::new();
    let shipped = shipped_file();
    import(shipped, db.url())
        .await
        .expect("the import succeeds");
    let settings = [
        ("DATABASE_URL", db.url()),
        ("INSIGHTS_TIMESERIES", "postgres"),
        ("INSIGHTS_TIMESERIES_URL", db.url()),
        ("INSIGHTS_DB_POOL_SIZE", "4"),
        ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "5000"),
    ];
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(TestApp::spawn_settings(&settings).await);
    }
    let validators = ["etag", "cache-control", "content-type", "vary"];
    let mut tagged = 0;
    for request in REQUESTS.iter().copied().chain(usage_requests()) {
        let first = instances[0].get(request).await;
        tagged += usize::from(first.header("etag").is_some());
        for (index, other) in instances.iter().enumerate().skip(1) {
            let answer = other.get(request).await;
            assert_eq!(answer.status, first.status, "instance {index}: {request}");
            assert_eq!(
                String::from_utf8_lossy(&answer.body),
                String::from_utf8_lossy(&first.body),
                "instance {index}: {request}"
            );
            for name in validators {
                assert_eq!(
                    answer.header(name),
                    first.header(name),
                    "instance {index}, {name}: {request}"
                );
            }
            // A tag from one instance revalidates at another.
            if let Some(tag) = first.header("etag") {
                let revalidated = other
                    .request_with("GET", request, &[("if-none-match", tag)])
                    .await;
                assert_eq!(revalidated.status, 304, "instance {index}: {request}");
            }
        }
    }
    assert!(tagged >= 20, "most requests are tagged answers: {tagged}");
}

/// Through PgBouncer 1.18 in transaction mode with its default settings (Debian's binary,
/// started by the test) and `INSIGHTS_DB_POOLER=transaction`, both stores answer every usage
/// request with the file source's bytes, and a concurrent burst through a pool larger than
/// PgBouncer's has no error. Without the binary it says so and returns, unless `CI` is set.
#[actix_web::test]
async fn through_pgbouncer_every_usage_answer_is_the_file_sources_under_concurrency() {
    let db = TestDb::new();
    import(shipped_file(), db.url())
        .await
        .expect("the import succeeds");
    let Some(bouncer) = insights_testdb::PgBouncer::start(&db, &[]) else {
        return;
    };
    let url = bouncer.url();
    let app = std::rc::Rc::new(
        TestApp::spawn_settings(&[
            ("DATABASE_URL", &url),
            ("INSIGHTS_TIMESERIES", "postgres"),
            ("INSIGHTS_TIMESERIES_URL", &url),
            ("INSIGHTS_DB_POOLER", "transaction"),
            // More than PgBouncer's default_pool_size of 20, for each store.
            ("INSIGHTS_DB_POOL_SIZE", "24"),
            ("INSIGHTS_DB_WAIT_TIMEOUT_MS", "5000"),
            ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "5000"),
        ])
        .await,
    );
    assert_same_bytes(&TestApp::spawn().await, &app).await;
    // 32 clients from one address: heavy requests beyond the caller's share of the compute
    // slots are refused by admission (503, "busy"), which is not the pooler's doing; every
    // other answer is what it is sequentially, and none is a dependency's failure.
    let requests = usage_requests();
    let mut sequential = std::collections::HashMap::new();
    for request in &requests {
        sequential.insert(*request, app.get(request).await);
    }
    let clients: Vec<_> = (0..32)
        .map(|client| {
            let (app, requests) = (std::rc::Rc::clone(&app), requests.clone());
            actix_web::rt::spawn(async move {
                let mut answers = Vec::new();
                for request in requests.iter().cycle().skip(client).take(10) {
                    answers.push((*request, app.get(request).await));
                }
                answers
            })
        })
        .collect();
    let mut answered = 0;
    for client in clients {
        for (request, answer) in client.await.unwrap() {
            if answer.status == 503 {
                assert!(answer.retry_after.is_some(), "{request}: {answer:?}");
                assert!(
                    String::from_utf8_lossy(&answer.body)
                        .contains("busy with other heavy requests"),
                    "{request}: {answer:?}"
                );
            } else {
                let alone = &sequential[request];
                assert_eq!(answer.status, alone.status, "{request}");
                assert_eq!(
                    String::from_utf8_lossy(&answer.body),
                    String::from_utf8_lossy(&alone.body),
                    "{request}"
                );
                answered += usize::from(answer.status == 200);
            }
        }
    }
    assert!(
        answered >= 100,
        "much of the burst is answered: {answered} of 320"
    );
}
