//! Reads from a streaming replica, on a throwaway primary and replica the test starts: a
//! replica that stops replaying leaves rotation once further behind than allowed, and reads
//! then go to the primary or are refused as `Unavailable`, until it catches up.

use std::time::{Duration, Instant};

use insights_core::{Duid, SeriesKey, TimeSeriesError, TimeSeriesSource};
use insights_pg::{PgConfig, PgTimeSeries, Pooler, ReplicaConfig, ReplicaStatus, WhenNoReplica};
use insights_testdb::Replication;
use time::OffsetDateTime;

/// 2024-03-09T00:00:00Z.
const T0_NS: i64 = 1_709_942_400_000_000_000;
const MINUTE_NS: i64 = 60_000_000_000;

fn config(url: &str) -> PgConfig {
    PgConfig {
        url: url.to_owned(),
        pool_size: 2,
        connect_timeout: Duration::from_secs(2),
        wait_timeout: Duration::from_secs(2),
        statement_timeout: Duration::from_secs(5),
        pooler: Pooler::None,
    }
}

fn key() -> SeriesKey {
    SeriesKey {
        duid: Duid("6D12E310B371FCB1".to_owned()),
        circuit_number: 1,
    }
}

/// `count` samples of [`key`], a minute apart from `first_ns`.
async fn import_minutes(replication: &Replication, first_ns: i64, count: i64) {
    let samples = (0..count).map(|minute| (key(), first_ns + minute * MINUTE_NS, 100.0));
    insights_pg::import(&replication.primary_url(), samples)
        .await
        .expect("the import succeeds");
}

/// How many samples the source reads in the day from [`T0_NS`].
async fn samples_in_day(source: &PgTimeSeries) -> Result<u64, TimeSeriesError> {
    let edge = |ns: i64| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).unwrap();
    let stats = source
        .range_stats(&[key()], &[edge(T0_NS), edge(T0_NS + 1440 * MINUTE_NS)])
        .await?;
    Ok(stats[0][0].n_samples())
}

/// Waits at most 15 s for the replica's status to satisfy `done`.
async fn until_status(
    source: &PgTimeSeries,
    done: impl Fn(&ReplicaStatus) -> bool,
) -> ReplicaStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = source.replicas().remove(0);
        if done(&status) || Instant::now() > deadline {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_falls_behind_leaves_rotation_until_it_catches_up() {
    let replication = Replication::start();
    import_minutes(&replication, T0_NS, 10).await;
    replication.wait_for_replay();
    let replicas = |when_none| ReplicaConfig {
        replicas: vec![config(&replication.replica_url())],
        max_lag: Duration::from_millis(300),
        when_none,
    };
    let primary = config(&replication.primary_url());
    let refusing = PgTimeSeries::connect_with_replicas(&primary, &replicas(WhenNoReplica::Refuse))
        .await
        .unwrap();
    let falling_back =
        PgTimeSeries::connect_with_replicas(&primary, &replicas(WhenNoReplica::Primary))
            .await
            .unwrap();
    let status = until_status(&refusing, |status| status.in_rotation).await;
    assert!(status.in_rotation, "{status:?}");
    assert_eq!(
        refusing.staleness_bound(),
        Some(Duration::from_millis(3300))
    );
    assert_eq!(samples_in_day(&refusing).await, Ok(10));

    // Paused, with more on the primary: behind by more and more, and out of rotation once
    // past the bound.
    replication.pause_replay();
    import_minutes(&replication, T0_NS + 10 * MINUTE_NS, 5).await;
    let behind = until_status(&refusing, |status| !status.in_rotation).await;
    assert!(!behind.in_rotation, "{behind:?}");
    assert!(
        behind
            .lag
            .is_some_and(|lag| lag > Duration::from_millis(300)),
        "{behind:?}"
    );
    assert!(
        behind
            .reason
            .as_deref()
            .is_some_and(|reason| reason.contains("behind the primary")),
        "{behind:?}"
    );
    match samples_in_day(&refusing).await {
        Err(TimeSeriesError::Unavailable { reason }) => {
            assert!(reason.contains("no replica"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    until_status(&falling_back, |status| !status.in_rotation).await;
    assert_eq!(samples_in_day(&falling_back).await, Ok(15));

    // Caught up, it answers again, with everything.
    replication.resume_replay();
    replication.wait_for_replay();
    let back = until_status(&refusing, |status| status.in_rotation).await;
    assert!(back.in_rotation, "{back:?}");
    assert_eq!(samples_in_day(&refusing).await, Ok(15));

    // An idle primary does not make a caught-up replica look behind: the lag stays within
    // a probe or two, though the last transaction it replayed grows old.
    tokio::time::sleep(insights_pg::PROBE_EVERY * 3).await;
    let idle = refusing.replicas().remove(0);
    assert!(idle.in_rotation, "{idle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replicas_every_read_sees_every_commit() {
    let db = insights_testdb::TestDb::new();
    let samples = (0..3).map(|minute| (key(), T0_NS + minute * MINUTE_NS, 100.0));
    insights_pg::import(db.url(), samples).await.unwrap();
    let source = PgTimeSeries::connect(&config(db.url())).await.unwrap();
    assert_eq!(source.replicas(), []);
    assert_eq!(source.staleness_bound(), None);
    assert_eq!(samples_in_day(&source).await, Ok(3));
    // Imported while the source is open, and read at once.
    let later = (3..5).map(|minute| (key(), T0_NS + minute * MINUTE_NS, 100.0));
    insights_pg::import(db.url(), later).await.unwrap();
    assert_eq!(samples_in_day(&source).await, Ok(5));
    // Imported while the source is open, and read at once.
    let later = (3..5).map(|minute| (key(), T0_NS + minute * MINUTE_NS, 100.0));
    insights_pg::import(db.url(), later).await.unwrap();
    assert_eq!(samples_in_day(&source).await, Ok(5));
}
