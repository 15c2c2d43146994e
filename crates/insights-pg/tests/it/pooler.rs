//! Through PgBouncer 1.18 in transaction mode with its default settings (Debian's binary,
//! started by the test): both stores answer exactly as they do straight to the server, a
//! burst of concurrent reads through a pool larger than PgBouncer's `default_pool_size` has no
//! error, every statement still runs under the service's session settings, and a pooler that
//! cannot reach its server, or is gone, is `Unavailable` (a 503), never a 500.
//!
//! Without the binary each test says so on stderr and returns, unless `CI` is set
//! ([`PgBouncer::start`]).

use std::time::Duration;

use insights_core::{
    Catalogue, Duid, MetadataError, MetadataRepo, RangeStats, SeriesKey, TimeSeriesError,
    TimeSeriesSource, UsageStats,
};
use insights_pg::{PgConfig, PgMetadata, PgSetupError, PgTimeSeries, Pooler};
use insights_testdb::{free_port, Lcg, PgBouncer, TestDb};
use time::OffsetDateTime;

/// 2024-03-09T00:00:00Z.
const T0_NS: i64 = 1_709_942_400_000_000_000;
const MINUTE_NS: i64 = 60_000_000_000;
const DAY_NS: i64 = 1440 * MINUTE_NS;

/// More connections than PgBouncer's `default_pool_size` (20) lets reach the server, so
/// clients wait in PgBouncer's queue and their transactions share server connections.
const BURST_POOL_SIZE: usize = 32;

/// The burst's tasks, each reading one read after another.
const TASKS: usize = 32;
const READS_PER_TASK: usize = 25;

fn config(url: &str, pooler: Pooler, pool_size: usize) -> PgConfig {
    PgConfig {
        url: url.to_owned(),
        pool_size,
        connect_timeout: Duration::from_secs(5),
        wait_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(10),
        pooler,
    }
}

/// Both stores on one URL.
struct Stores {
    metadata: PgMetadata,
    samples: PgTimeSeries,
}

impl Stores {
    async fn open(url: &str, pooler: Pooler, pool_size: usize) -> Stores {
        let config = config(url, pooler, pool_size);
        Stores {
            metadata: PgMetadata::new(&config).unwrap(),
            samples: PgTimeSeries::connect(&config).await.unwrap(),
        }
    }
}

/// The seed's series (every circuit of `db/init/init.sql`), three days of minute samples each
/// with a few gaps and fractions, so that reads take raw samples, rollup rows and packs.
async fn import(db: &TestDb) -> Vec<SeriesKey> {
    let seed = Catalogue::seed();
    let series: Vec<SeriesKey> = seed
        .circuits
        .iter()
        .take(6)
        .map(|circuit| SeriesKey {
            duid: seed
                .sensors
                .iter()
                .find(|sensor| sensor.id == circuit.sensor_id)
                .expect("every circuit's sensor is in the seed")
                .duid
                .clone(),
            circuit_number: circuit.circuit_number,
        })
        .collect();
    let mut random = Lcg(31);
    let mut samples = Vec::new();
    for key in &series {
        let mut at = T0_NS;
        while at < T0_NS + 3 * DAY_NS {
            samples.push((key.clone(), at, random.below(40_000) as f64 / 8.0));
            at += if random.below(200) == 0 {
                90 * MINUTE_NS
            } else {
                MINUTE_NS
            };
        }
    }
    insights_pg::import(db.url(), samples.into_iter())
        .await
        .expect("the import succeeds");
    series
}

fn instants(edges_ns: &[i64]) -> Vec<OffsetDateTime> {
    edges_ns
        .iter()
        .map(|&nanos| OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).unwrap())
        .collect()
}

/// Edge sets of the usage queries: a quarter off the minute (raw samples only), hours, days
/// starting at :07, a week of days (rollups and packs), and a year (packs of days).
fn edge_sets() -> Vec<Vec<OffsetDateTime>> {
    let hour = 60 * MINUTE_NS;
    vec![
        instants(&[
            T0_NS + 7 * MINUTE_NS + 13_000_000_000,
            T0_NS + 22 * MINUTE_NS,
        ]),
        instants(
            &(0..=24)
                .map(|n| T0_NS + 12 * hour + n * hour)
                .collect::<Vec<_>>(),
        ),
        instants(
            &(0..=4)
                .map(|n| T0_NS - DAY_NS + 7 * MINUTE_NS + n * DAY_NS)
                .collect::<Vec<_>>(),
        ),
        instants(&[T0_NS - 2 * DAY_NS, T0_NS + 5 * DAY_NS]),
        instants(&[T0_NS - 200 * DAY_NS, T0_NS + 165 * DAY_NS]),
    ]
}

/// Everything the usage queries read from the time-series source, in order.
#[derive(Debug, PartialEq)]
enum Read {
    Extent(Option<insights_core::Extent>),
    Ranges(RangeStats),
    Combined(Vec<UsageStats>),
    Window(Vec<UsageStats>),
    Found(bool, bool),
}

async fn sample_reads(
    source: &PgTimeSeries,
    series: &[SeriesKey],
) -> Result<Vec<Read>, TimeSeriesError> {
    let mut reads = vec![Read::Extent(source.extent(series).await?)];
    for key in series.iter().take(2) {
        reads.push(Read::Extent(
            source.extent(std::slice::from_ref(key)).await?,
        ));
    }
    for edges in edge_sets() {
        reads.push(Read::Ranges(source.range_stats(series, &edges).await?));
        reads.push(Read::Combined(
            source.combined_range_stats(series, &edges).await?,
        ));
        let window =
            insights_core::Window::new(edges[0], edges[edges.len() - 1], time::Duration::days(400))
                .expect("a valid window");
        reads.push(Read::Window(source.window_stats(series, &window).await?));
        reads.push(Read::Found(
            source.has_samples_from(series, window.start()).await?,
            source.has_samples_from(series, window.end()).await?,
        ));
    }
    Ok(reads)
}

/// Every lookup the metadata store makes, over every entity of the seed, as debug text.
async fn metadata_reads(store: &PgMetadata) -> Result<Vec<String>, MetadataError> {
    let seed = Catalogue::seed();
    let mut reads = vec![
        format!("{:?}", store.brands().await?),
        format!("{:?}", store.circuit_series().await?),
    ];
    store.check_ready().await?;
    for brand in &seed.brands {
        reads.push(format!("{:?}", store.brand(brand.id).await?));
    }
    for organization in &seed.organizations {
        reads.push(format!("{:?}", store.organization(organization.id).await?));
    }
    for location in &seed.locations {
        reads.push(format!("{:?}", store.location(location.id).await?));
    }
    for sensor in &seed.sensors {
        reads.push(format!("{:?}", store.sensor(sensor.id).await?));
    }
    for circuit in &seed.circuits {
        reads.push(format!("{:?}", store.circuit(circuit.id).await?));
    }
    Ok(reads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_pgbouncer_in_transaction_mode_both_stores_answer_as_they_do_direct() {
    let db = TestDb::new();
    let series = import(&db).await;
    let Some(bouncer) = PgBouncer::start(&db, &[]) else {
        return;
    };
    let direct = Stores::open(db.url(), Pooler::None, 2).await;
    let pooled = Stores::open(&bouncer.url(), Pooler::Transaction, 2).await;
    // The pooler-safe mode straight to the server, as an operator may leave it set.
    let safe_direct = Stores::open(db.url(), Pooler::Transaction, 2).await;
    assert!(
        pooled
            .metadata
            .describe()
            .ends_with(", through a transaction-mode pooler"),
        "the start-up line says how statements are sent: {}",
        pooled.metadata.describe()
    );

    let expected_samples = sample_reads(&direct.samples, &series).await.unwrap();
    let expected_metadata = metadata_reads(&direct.metadata).await.unwrap();
    assert!(
        expected_metadata.len() > 30,
        "every entity of the seed is read"
    );
    for (label, stores) in [
        ("through PgBouncer", &pooled),
        ("direct, pooler-safe", &safe_direct),
    ] {
        // Twice, so the second round runs on connections the first left behind.
        for round in 0..2 {
            let samples = sample_reads(&stores.samples, &series)
                .await
                .unwrap_or_else(|error| panic!("{label}: {error:?}\n{}", bouncer.log()));
            assert_eq!(samples, expected_samples, "{label}, round {round}");
            let metadata = metadata_reads(&stores.metadata)
                .await
                .unwrap_or_else(|error| panic!("{label}: {error:?}\n{}", bouncer.log()));
            assert_eq!(metadata, expected_metadata, "{label}, round {round}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_concurrent_reads_through_pgbouncer_has_no_error() {
    let db = TestDb::new();
    let series = import(&db).await;
    let Some(bouncer) = PgBouncer::start(&db, &[]) else {
        return;
    };
    let direct = Stores::open(db.url(), Pooler::None, 2).await;
    let pooled = std::sync::Arc::new(
        Stores::open(&bouncer.url(), Pooler::Transaction, BURST_POOL_SIZE).await,
    );
    let edges = edge_sets();
    let seed = Catalogue::seed();
    let mut expected = Vec::new();
    for edges in &edges {
        expected.push(direct.samples.range_stats(&series, edges).await.unwrap());
    }
    let organization = seed.organizations[0].id;
    let expected_organization = format!("{:?}", direct.metadata.organization(organization).await);
    let expected = std::sync::Arc::new((expected, expected_organization));
    // 32 tasks × 25 reads, a time-series read and a metadata lookup in turn, each task's
    // reads one after another as a request's are: enough at once to fill the pool of 32,
    // more client connections than PgBouncer opens server connections (20).
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (pooled, series, edges, expected) = (
                pooled.clone(),
                series.clone(),
                edges.clone(),
                expected.clone(),
            );
            tokio::spawn(async move {
                let mut failures = Vec::new();
                for read in 0..READS_PER_TASK {
                    if read.is_multiple_of(2) {
                        let which = (task + read / 2) % edges.len();
                        match pooled.samples.range_stats(&series, &edges[which]).await {
                            Ok(answer) if answer == expected.0[which] => {}
                            other => failures.push(format!("samples {which}: {other:?}")),
                        }
                    } else {
                        let answer =
                            format!("{:?}", pooled.metadata.organization(organization).await);
                        if answer != expected.1 {
                            failures.push(format!("metadata: {answer}"));
                        }
                    }
                }
                failures
            })
        })
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        failures.extend(task.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} of {} reads failed, the first: {:?}\n{}",
        failures.len(),
        TASKS * READS_PER_TASK,
        failures.first(),
        bouncer.log()
    );
    let status = pooled.samples.pool_status();
    assert!(
        status.size > 20,
        "the burst opened more client connections ({}) than PgBouncer's default_pool_size",
        status.size
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_through_pgbouncer_run_under_the_session_settings_and_leave_none_behind() {
    let db = TestDb::new();
    import(&db).await;
    let Some(bouncer) = PgBouncer::start(&db, &[]) else {
        return;
    };
    let expected = vec![
        ("jit".to_owned(), "off".to_owned()),
        (
            "plan_cache_mode".to_owned(),
            "force_generic_plan".to_owned(),
        ),
        ("statement_timeout".to_owned(), "10s".to_owned()),
    ];
    for (url, pooler) in [
        (bouncer.url(), Pooler::Transaction),
        (db.url().to_owned(), Pooler::Transaction),
        (db.url().to_owned(), Pooler::None),
    ] {
        let store = PgMetadata::new(&config(&url, pooler, BURST_POOL_SIZE)).unwrap();
        // At once, so they spread over PgBouncer's server connections.
        let answers =
            futures_util::future::join_all((0..40).map(|_| store.session_settings())).await;
        for answer in answers {
            assert_eq!(answer.unwrap(), expected, "{pooler:?} at {url}");
        }
    }
    // The settings were local to each statement's transaction: a plain session through the
    // same PgBouncer, which shares its server connections, sees the server's defaults.
    let plain = PgMetadata::new(&config(&bouncer.url(), Pooler::Transaction, 1)).unwrap();
    let (client, connection) = tokio_postgres::connect(&bouncer.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    for _ in 0..20 {
        let row = client
            .simple_query("SELECT current_setting('statement_timeout')")
            .await
            .unwrap();
        let setting = row.iter().find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        assert_eq!(setting.as_deref(), Some("0"));
        plain.check_ready().await.unwrap();
    }
    drop(client);
    connection.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_pooler_that_cannot_reach_its_server_or_is_gone_is_unavailable() {
    let db = TestDb::new();
    import(&db).await;
    let nothing_there = format!("host=127.0.0.1 port={} dbname=gone", free_port());
    let Some(mut bouncer) = PgBouncer::start(&db, &[("gone", nothing_there)]) else {
        return;
    };
    let unreachable = config(&bouncer.url_for("gone"), Pooler::Transaction, 2);
    let store = PgMetadata::new(&unreachable).unwrap();
    for answer in [store.check_ready().await, store.brands().await.map(drop)] {
        assert!(
            matches!(answer, Err(MetadataError::Unavailable { .. })),
            "{answer:?}"
        );
    }
    assert!(matches!(
        PgTimeSeries::connect(&unreachable).await,
        Err(PgSetupError::Unreachable(_))
    ));

    let stores = Stores::open(&bouncer.url(), Pooler::Transaction, 2).await;
    stores.metadata.check_ready().await.unwrap();
    let key = SeriesKey {
        duid: Duid("nowhere".to_owned()),
        circuit_number: 1,
    };
    bouncer.stop();
    for _ in 0..3 {
        let ready = stores.metadata.check_ready().await;
        assert!(
            matches!(ready, Err(MetadataError::Unavailable { .. })),
            "{ready:?}"
        );
        let extent = stores.samples.extent(std::slice::from_ref(&key)).await;
        assert!(
            matches!(extent, Err(TimeSeriesError::Unavailable { .. })),
            "{extent:?}"
        );
    }
}

#[tokio::test]
async fn the_settings_sent_at_startup_through_pgbouncer_are_refused_and_the_error_says_what_to_set()
{
    let db = TestDb::new();
    let Some(bouncer) = PgBouncer::start(&db, &[]) else {
        return;
    };
    let store = PgMetadata::new(&config(&bouncer.url(), Pooler::None, 1)).unwrap();
    match store.check_ready().await {
        Err(MetadataError::Unavailable { reason }) => assert!(
            reason.contains("unsupported startup parameter: options")
                && reason.contains("INSIGHTS_DB_POOLER=transaction"),
            "{reason}"
        ),
        other => panic!("expected Unavailable, got {other:?}"),
    }
}
