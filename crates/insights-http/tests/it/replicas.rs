//! Samples read from a streaming replica (`INSIGHTS_TIMESERIES_REPLICA_URLS`), on a throwaway
//! primary and replica the test starts: the same bytes as the file source, windows the replica
//! may not have replayed never called settled, and a replica that stops costing only 503s
//! with `Retry-After` (or nothing, reading from the primary) until it is back.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use insights_testdb::Replication;
use serde_json::json;
use time::OffsetDateTime;

use crate::postgres::{assert_same_bytes, import, shipped_file};
use crate::support::TestApp;

const SETTLED: Option<&str> = Some("public, max-age=300");
const LIVE: Option<&str> = Some("public, max-age=10");

/// A primary and replica holding the shipped samples, replayed.
async fn replicated_shipped_samples() -> Arc<Replication> {
    let replication = Arc::new(Replication::start());
    import(shipped_file(), &replication.primary_url())
        .await
        .expect("the import succeeds");
    replication.wait_for_replay();
    replication
}

/// A service reading samples from the replica, the primary for imports, `fallback` when the
/// replica may not answer.
async fn service(replication: &Replication, max_lag_ms: &str, fallback: &str) -> TestApp {
    TestApp::spawn_settings(&[
        ("INSIGHTS_TIMESERIES", "postgres"),
        ("INSIGHTS_TIMESERIES_URL", &replication.primary_url()),
        (
            "INSIGHTS_TIMESERIES_REPLICA_URLS",
            &replication.replica_url(),
        ),
        ("INSIGHTS_REPLICA_MAX_LAG_MS", max_lag_ms),
        ("INSIGHTS_REPLICA_FALLBACK", fallback),
        ("INSIGHTS_DB_POOL_SIZE", "4"),
        ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "5000"),
        ("INSIGHTS_METRICS_REQUIRE_KEY", "false"),
    ])
    .await
}

/// A service reading samples from the primary alone.
async fn primary_only(replication: &Replication) -> TestApp {
    TestApp::spawn_settings(&[
        ("INSIGHTS_TIMESERIES", "postgres"),
        ("INSIGHTS_TIMESERIES_URL", &replication.primary_url()),
        ("INSIGHTS_DB_POOL_SIZE", "4"),
        ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "5000"),
    ])
    .await
}

/// Asks `path` every 100 ms until `done` holds of the answer, for at most 20 s.
async fn until(
    app: &TestApp,
    path: &str,
    done: impl Fn(&crate::support::Answer) -> bool,
) -> crate::support::Answer {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = app.get(path).await;
        if done(&answer) || Instant::now() > deadline {
            return answer;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn every_usage_answer_through_a_replica_is_the_file_sources_and_readiness_shows_its_lag() {
    let replication = replicated_shipped_samples().await;
    // Refused rather than read from the primary: every answer below is the replica's.
    let app = service(&replication, "5000", "refuse").await;
    assert_same_bytes(&TestApp::spawn().await, &app).await;

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200);
    let mut body = ready.json();
    let lag = body["replicas"][0]["lag_ms"].take();
    assert!(lag.as_u64().is_some_and(|lag| lag <= 5000), "{lag}");
    let replica = format!(
        "PostgreSQL at 127.0.0.1:{}/insights as postgres",
        replication
            .replica_url()
            .rsplit_once(':')
            .and_then(|(_, rest)| rest.split_once('/'))
            .map(|(port, _)| port.to_owned())
            .unwrap()
    );
    assert_eq!(
        body,
        json!({
            "status": "ready",
            "replicas": [{ "replica": replica, "lag_ms": null, "in_rotation": true, "reason": null }],
        })
    );
    let metrics = String::from_utf8(app.get("/metrics").await.body).unwrap();
    let gauges: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("insights_replica_"))
        .map(|line| line.rsplit_once(' ').map_or(line, |(name, _)| name))
        .collect();
    assert_eq!(
        gauges,
        [
            format!("insights_replica_lag_seconds{{replica=\"{replica}\"}}"),
            format!("insights_replica_in_rotation{{replica=\"{replica}\"}}"),
        ]
    );
    assert!(metrics.contains(&format!(
        "insights_replica_in_rotation{{replica=\"{replica}\"}} 1"
    )));
}

/// Samples of the seed's circuit 1 of sensor 6D12E310B371FCB1 (organization 955c3c4d), one a
/// minute over `[from, to)`, nanoseconds since the epoch.
fn minutes(from: i128, to: i128) -> impl Iterator<Item = (insights_core::SeriesKey, i64, f64)> {
    let key = insights_core::SeriesKey {
        duid: insights_core::Duid("6D12E310B371FCB1".to_owned()),
        circuit_number: 1,
    };
    (0..)
        .map(move |minute| from + minute * 60_000_000_000)
        .take_while(move |at| *at < to)
        .map(move |at| (key.clone(), at as i64, 250.5))
}

/// The usage of `entity` (a path such as `organizations/{id}`) over `[start, end)`.
fn usage_window(entity: &str, start: OffsetDateTime, end: OffsetDateTime) -> String {
    let format = &time::format_description::well_known::Rfc3339;
    format!(
        "/v1/insights/{entity}/usage?start={}&end={}",
        start.format(format).unwrap(),
        end.format(format).unwrap()
    )
}

const ORGANIZATION: &str = "organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d";
const BRAND: &str = "brands/11111111-1111-1111-1111-111111111111";

#[actix_web::test]
async fn a_window_the_replica_has_not_replayed_is_never_called_settled() {
    let replication = replicated_shipped_samples().await;
    // A lag bound long enough that the paused replica stays in rotation.
    let app = service(&replication, "60000", "refuse").await;
    let primary = primary_only(&replication).await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let hour_ago = now - time::Duration::hours(1);
    let minute = |at: OffsetDateTime| at.unix_timestamp_nanos() / 60_000_000_000 * 60_000_000_000;

    // An import the replica has not replayed: the primary's answer has it and is settled;
    // the replica's has not, and is live.
    replication.pause_replay();
    let past = usage_window(
        ORGANIZATION,
        hour_ago,
        hour_ago + time::Duration::minutes(30),
    );
    insights_pg::import(
        &replication.primary_url(),
        minutes(minute(hour_ago), minute(now)),
    )
    .await
    .unwrap();
    let from_primary = primary.get(&past).await;
    assert_eq!(from_primary.cache_control.as_deref(), SETTLED);
    assert_eq!(from_primary.json()["usage"]["sample_count"], 30);
    let from_replica = app.get(&past).await;
    assert_eq!(from_replica.status, 200);
    assert_eq!(from_replica.json()["usage"]["sample_count"], 0);
    assert_eq!(from_replica.cache_control.as_deref(), LIVE);

    // Replayed, the replica's answer is the primary's, bytes and validators.
    replication.resume_replay();
    replication.wait_for_replay();
    let replayed = until(&app, &past, |answer| {
        answer.cache_control.as_deref() == SETTLED
    })
    .await;
    assert_eq!(
        String::from_utf8_lossy(&replayed.body),
        String::from_utf8_lossy(&from_primary.body)
    );
    assert_eq!(replayed.etag, from_primary.etag);

    // A window that ended 30 s ago, within the lag bound (60 s and the probe's 3 s), is live
    // through the replica even with samples after it, as a margin for what a replica that
    // far behind may lack; the primary calls it settled.
    let thirty_seconds_ago = now - time::Duration::seconds(30);
    insights_pg::import(
        &replication.primary_url(),
        minutes(minute(now), minute(now) + 5 * 60_000_000_000),
    )
    .await
    .unwrap();
    replication.wait_for_replay();
    let recent = usage_window(BRAND, hour_ago, thirty_seconds_ago);
    let settled = until(&primary, &recent, |answer| {
        answer.cache_control.as_deref() == SETTLED
    })
    .await;
    assert_eq!(settled.cache_control.as_deref(), SETTLED);
    let through_replica = app.get(&recent).await;
    assert_eq!(through_replica.status, 200);
    assert_eq!(through_replica.cache_control.as_deref(), LIVE);
    assert_eq!(
        String::from_utf8_lossy(&through_replica.body),
        String::from_utf8_lossy(&settled.body)
    );
}

#[actix_web::test]
async fn a_replica_stopped_under_load_costs_only_503s_with_retry_after_and_comes_back() {
    let replication = replicated_shipped_samples().await;
    let refusing = Rc::new(service(&replication, "5000", "refuse").await);
    let falling_back = Rc::new(service(&replication, "5000", "primary").await);
    let path = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-04-01T00:00:00Z&end=2024-04-01T06:00:00Z";
    let expected = falling_back.get(path).await.body;

    // Four clients on each service throughout, while the replica stops.
    let stop_at = Instant::now() + Duration::from_secs(3);
    let load = |app: Rc<TestApp>| {
        actix_web::rt::spawn(async move {
            let mut answers = Vec::new();
            while Instant::now() < stop_at {
                answers.push(app.get(path).await);
            }
            answers
        })
    };
    let clients: Vec<_> = (0..4)
        .flat_map(|_| [load(Rc::clone(&refusing)), load(Rc::clone(&falling_back))])
        .collect();
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    let stopping = Arc::clone(&replication);
    actix_web::rt::task::spawn_blocking(move || stopping.stop_replica())
        .await
        .unwrap();
    for (index, client) in clients.into_iter().enumerate() {
        let refuses = index % 2 == 0;
        for answer in client.await.unwrap() {
            match answer.status {
                200 => assert_eq!(answer.body, expected),
                503 if refuses => assert!(answer.retry_after.is_some(), "{answer:?}"),
                _ => panic!("refuses: {refuses}: {answer:?}"),
            }
        }
    }

    // Down: refused with the reason, or answered from the primary.
    let refused = refusing.get(path).await;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(refused.retry_after.is_some());
    assert_eq!(falling_back.get(path).await.body, expected);
    let ready = refusing.get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert_eq!(
        ready.json()["detail"],
        "The time-series source cannot answer; retry after the Retry-After delay."
    );

    // Back, the replica answers again without a restart of the service.
    let starting = Arc::clone(&replication);
    actix_web::rt::task::spawn_blocking(move || starting.start_replica())
        .await
        .unwrap();
    let back = until(&refusing, path, |answer| answer.status == 200).await;
    assert_eq!(back.status, 200, "{back:?}");
    assert_eq!(back.body, expected);
}
