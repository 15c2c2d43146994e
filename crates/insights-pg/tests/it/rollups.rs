//! Rollups: an answer from rollups plus raw edges equals the answer from raw samples alone and
//! the file source's, on data with gaps, late and out-of-order samples, irregular spacing and
//! sub-second timestamps; the import keeps the rollups true and is idempotent; and a sample
//! imported while a source is in use is in its next answer.

use std::time::Duration as StdDuration;

use insights_core::DynTimeSeriesSource;
use insights_core::{format_utc, Duid, RangeStats, SeriesKey, TimeSeriesSource, UsageStats};
use insights_mockts::MockTimeSeries;
use insights_pg::{Importer, PgConfig, PgTimeSeries};
use insights_testdb::{Lcg, TestDb};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use time::OffsetDateTime;

/// 2024-03-09T00:00:00Z: the data spans New York's spring-forward night.
const T0_NS: i64 = 1_709_942_400_000_000_000;
const MINUTE_NS: i64 = 60_000_000_000;
const DAY_NS: i64 = 1440 * MINUTE_NS;
const DAYS: i64 = 4;

type Sample = (SeriesKey, i64, f64);

fn key(duid: &str, circuit_number: u32) -> SeriesKey {
    SeriesKey {
        duid: Duid(duid.to_owned()),
        circuit_number,
    }
}

fn keys() -> Vec<SeriesKey> {
    vec![key("A1", 1), key("A1", 2), key("B2", 1), key("C3", 7)]
}

/// Four days of samples: mostly a minute apart, sometimes 17 s to 150 s, with microseconds
/// now and then, gaps of hours, one sparse series, one that turns to every 10 s on its third
/// day, and values that are integers, quarters or any fraction, some negative, a few
/// near ±1 GW beside small ones.
fn samples() -> Vec<Sample> {
    let mut random = Lcg(7);
    let mut samples = Vec::new();
    for (index, key) in keys().into_iter().enumerate() {
        let mut at = T0_NS + index as i64 * 7_000_000;
        while at < T0_NS + DAYS * DAY_NS {
            let watts = match random.below(20) {
                0 | 1 => -(random.below(500) as f64),
                2 | 3 => random.below(40_000) as f64 / 4.0,
                4 | 5 => random.below(40_000_000) as f64 * 0.001 + 0.1,
                6 if random.below(20) == 0 => 1e9 - random.below(1000) as f64 / 7.0,
                7 if random.below(20) == 0 => -1e9 + random.below(1000) as f64 / 3.0,
                _ => random.below(5_000) as f64,
            };
            samples.push((key.clone(), at, watts));
            let fast = index == 1 && at >= T0_NS + 2 * DAY_NS;
            at += match (index, random.below(100)) {
                _ if fast => 10_000_000_000,
                (3, _) => 47 * MINUTE_NS + random.below(1000) as i64 * 1000,
                (_, 0) => (60 + random.below(300) as i64) * MINUTE_NS,
                (_, 1..=10) => (17 + random.below(134) as i64) * 1_000_000_000,
                (_, 11..=15) => MINUTE_NS + random.below(1_000_000) as i64 * 1000,
                _ => MINUTE_NS,
            };
        }
    }
    samples
}

fn as_json(samples: &[Sample]) -> String {
    let rows: Vec<String> = samples
        .iter()
        .map(|(key, at, watts)| {
            let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(*at)).unwrap();
            format!(
                r#"{{"duid":"{}","circuit_number":{},"timestamp":"{}","power_watts":{watts}}}"#,
                key.duid.0,
                key.circuit_number,
                format_utc(at)
            )
        })
        .collect();
    format!("[{}]", rows.join(",\n"))
}

fn config(db: &TestDb) -> PgConfig {
    PgConfig {
        url: db.url().to_owned(),
        pool_size: 2,
        connect_timeout: StdDuration::from_secs(5),
        wait_timeout: StdDuration::from_secs(5),
        statement_timeout: StdDuration::from_secs(30),
        pooler: insights_pg::Pooler::None,
    }
}

async fn source(db: &TestDb) -> PgTimeSeries {
    PgTimeSeries::connect(&config(db)).await.unwrap()
}

/// Every rollup row, every pack and every late quarter waiting, in order, as digests.
fn rollup_digest(db: &TestDb) -> Vec<Vec<Option<String>>> {
    db.query_text(
        "SELECT 'rows', count(*)::text, md5(string_agg(concat_ws(',', duid, circuit_number, span_s, phase_s, start, n, int_sum, micro_sum, min_watts, max_watts), ';' ORDER BY duid, circuit_number, span_s, phase_s, start)) FROM power_rollups
         UNION ALL
         SELECT 'packs', count(*)::text, md5(string_agg(concat_ws(',', duid, circuit_number, span_s, phase_s, start, entries), ';' ORDER BY duid, circuit_number, span_s, phase_s, start)) FROM power_rollup_packs
         UNION ALL
         SELECT 'late', count(*)::text, md5(string_agg(concat_ws(',', duid, circuit_number, start, n, int_sum, micro_sum, min_watts, max_watts), ';' ORDER BY duid, circuit_number, start)) FROM power_rollup_late
         ORDER BY 1",
    )
}

/// How many late quarters wait in `power_rollup_late`.
fn late_waiting(db: &TestDb) -> u64 {
    db.query_text("SELECT count(*)::text FROM power_rollup_late")[0][0]
        .as_deref()
        .unwrap_or("0")
        .parse()
        .unwrap()
}

/// Imports the samples late and out of order: a random 60 % first, then 30 %, then the last
/// 10 % scattered through every day; then the first part again, which must change nothing.
/// The late ones are left waiting in `power_rollup_late`, unsettled, for the readers to add.
async fn import_out_of_order(db: &TestDb, samples: &[Sample]) {
    let mut random = Lcg(11);
    let mut parts: [Vec<Sample>; 3] = Default::default();
    for sample in samples {
        let part = match random.below(10) {
            0..=5 => 0,
            6..=8 => 1,
            _ => 2,
        };
        parts[part].push(sample.clone());
    }
    let mut importer = Importer::connect(db.url()).await.unwrap();
    let (mut inserted, mut deferred) = (0, 0);
    for part in &parts {
        let report = importer.import(part.iter().cloned()).await.unwrap();
        assert_eq!(report.offered, part.len() as u64);
        inserted += report.inserted;
        deferred += report.late_deferred;
    }
    assert_eq!(inserted, samples.len() as u64);
    assert!(
        deferred > 0 && late_waiting(db) > 0,
        "{deferred} late samples deferred"
    );
    let before = rollup_digest(db);
    let again = importer.import(parts[0].iter().cloned()).await.unwrap();
    assert_eq!((again.inserted, again.days_rolled_up), (0, 0));
    assert_eq!(rollup_digest(db), before, "a second import changes nothing");
    let verified = importer.verify().await.unwrap();
    assert_eq!(verified.n_mismatches, 0, "{:?}", verified.mismatches);
    assert!(verified.rows > 0);
    importer.close().await;
}

/// Range edges as a client's buckets make them: a start on the minute, the quarter, a zone's
/// hour (UTC, Kolkata, Kathmandu, New York) or anywhere to the nanosecond, up to 40 days
/// before the data, and buckets of a quarter, an hour, a day, days of 23 and 25 hours, a week,
/// 100 days (read from packs of days), 600 days (from blocks of days), or any length.
fn edges() -> impl Strategy<Value = Vec<i128>> {
    let offsets_min = prop::sample::select(vec![0i64, 330, 345, -300, -240, 570]);
    let start = (
        -4 * 60..(DAYS + 1) * 1440,
        0..4u8,
        offsets_min,
        0..1_000_000_000i64,
    )
        .prop_map(|(minute, alignment, offset, nanos)| {
            let on_minute = i128::from(T0_NS) + i128::from(minute) * i128::from(MINUTE_NS);
            let minute_ns = i128::from(MINUTE_NS);
            match alignment {
                0 => on_minute,
                1 => on_minute.div_euclid(15 * minute_ns) * 15 * minute_ns,
                2 => (on_minute.div_euclid(60 * minute_ns) * 60 - i128::from(offset)) * minute_ns,
                _ => on_minute + i128::from(nanos),
            }
        });
    let hour = 60 * i128::from(MINUTE_NS);
    let widths = prop_oneof![
        Just(vec![15 * i128::from(MINUTE_NS)]),
        Just(vec![hour]),
        Just(vec![24 * hour]),
        Just(vec![24 * hour, 23 * hour, 24 * hour, 25 * hour]),
        Just(vec![7 * 24 * hour]),
        // Days from packs, and long enough for blocks of 8 and 64 days.
        Just(vec![100 * 24 * hour]),
        Just(vec![600 * 24 * hour]),
        (1..3 * i128::from(DAY_NS)).prop_map(|width| vec![width]),
    ];
    (start, widths, 1..30usize).prop_map(|(start, widths, count)| {
        let mut edges = vec![start];
        for index in 0..count {
            edges.push(edges[index] + widths[index % widths.len()]);
        }
        edges
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_answer_exactly_what_raw_samples_and_the_file_source_answer() {
    let db = TestDb::new();
    let samples = samples();
    import_out_of_order(&db, &samples).await;
    let file = MockTimeSeries::from_reader(as_json(&samples).as_bytes()).unwrap();
    let rolled_up = source(&db).await;
    let raw = rolled_up.clone().without_rollups();
    let keys = keys();
    for key in &keys {
        let (stored, loaded) = (
            rolled_up.extent(std::slice::from_ref(key)).await.unwrap(),
            file.extent(std::slice::from_ref(key)).await.unwrap(),
        );
        assert_eq!(stored, loaded, "{key}: extent and interval");
    }
    let mut intervals = Vec::new();
    for key in &keys {
        let extent = file
            .extent(std::slice::from_ref(key))
            .await
            .unwrap()
            .unwrap();
        intervals.push(extent.interval.whole_seconds());
    }
    assert_eq!(
        intervals,
        vec![60, 10, 60, 2820],
        "each series' own interval in seconds"
    );
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&edges(), |edges| {
            let instants: Vec<OffsetDateTime> = edges
                .iter()
                .map(|&nanos| OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap())
                .collect();
            let (answers, combined): ([RangeStats; 3], [Vec<UsageStats>; 3]) =
                handle.block_on(async {
                    (
                        [
                            rolled_up.range_stats(&keys, &instants).await.unwrap(),
                            raw.range_stats(&keys, &instants).await.unwrap(),
                            file.range_stats(&keys, &instants).await.unwrap(),
                        ],
                        [
                            rolled_up
                                .combined_range_stats(&keys, &instants)
                                .await
                                .unwrap(),
                            raw.combined_range_stats(&keys, &instants).await.unwrap(),
                            file.combined_range_stats(&keys, &instants).await.unwrap(),
                        ],
                    )
                });
            prop_assert_eq!(&answers[0], &answers[1], "rollups against raw samples");
            prop_assert_eq!(&combined[0], &combined[1], "all series together");
            // Sums are exact in both sources, so they agree to the last bit, fractions,
            // intervals and all.
            prop_assert_eq!(&answers[0], &answers[2], "rollups against the file source");
            prop_assert_eq!(
                &combined[0],
                &combined[2],
                "all series together, file source"
            );
            // Whether a window ending at each edge is past, series by series.
            let found = |source: &dyn DynTimeSeriesSource| {
                handle.block_on(async {
                    let mut found = Vec::new();
                    for instant in &instants {
                        for key in &keys {
                            let key = std::slice::from_ref(key);
                            found.push(source.has_samples_from_boxed(key, *instant).await.unwrap());
                        }
                    }
                    found
                })
            };
            prop_assert_eq!(
                found(&rolled_up),
                found(&file),
                "samples at or after each edge"
            );
            Ok(())
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

#[tokio::test]
async fn a_sample_imported_while_serving_is_in_the_next_answer() {
    let db = TestDb::new();
    let series = [key("A1", 1)];
    let minute = |n: i64| (series[0].clone(), T0_NS + n * MINUTE_NS, 100.0);
    insights_pg::import(db.url(), [minute(0), minute(1)].into_iter())
        .await
        .unwrap();
    let source = source(&db).await;
    let day = [
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0_NS)).unwrap(),
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0_NS + DAY_NS)).unwrap(),
    ];
    let count = |answer: RangeStats| answer[0][0].n_samples();
    let interval = |source: &PgTimeSeries| {
        let source = source.clone();
        let series = series.clone();
        async move { source.extent(&series).await.unwrap().unwrap().interval }
    };
    assert_eq!(count(source.range_stats(&series, &day).await.unwrap()), 2);
    assert_eq!(interval(&source).await, time::Duration::minutes(1));
    // Late samples, half a minute apart, change the day's rollups and the nominal interval.
    let late: Vec<Sample> = (0..5)
        .map(|n| {
            (
                series[0].clone(),
                T0_NS + 600 * MINUTE_NS + n * 30_000_000_000,
                1.0,
            )
        })
        .collect();
    insights_pg::import(db.url(), late.into_iter())
        .await
        .unwrap();
    assert_eq!(count(source.range_stats(&series, &day).await.unwrap()), 7);
    assert_eq!(interval(&source).await, time::Duration::seconds(30));
}

#[tokio::test]
async fn samples_imported_before_rollups_existed_are_rolled_up_by_the_next_import() {
    let db = TestDb::new();
    let series = key("A1", 1);
    insights_pg::import(db.url(), [(series.clone(), T0_NS, 5.0)].into_iter())
        .await
        .unwrap();
    // As an earlier version left it: samples, no rollups, no version, and a pack of another
    // layout (starting where no pack of 24 hours starts), which verify would list.
    db.execute(
        "TRUNCATE power_rollups; DELETE FROM power_sample_facts WHERE name = 'rollup_version';
         INSERT INTO power_rollup_packs
         VALUES ('A1', 1, 3600, 0, to_timestamp(0) + interval '5 hours', decode(repeat('00', 44), 'hex'))",
    );
    let refused = PgTimeSeries::connect(&config(&db))
        .await
        .expect_err("no rollups, no answers from them");
    assert_eq!(refused, insights_pg::PgSetupError::RollupsMissing);
    let report = insights_pg::import(db.url(), [(series, T0_NS + DAY_NS, 6.0)].into_iter())
        .await
        .unwrap();
    assert_eq!((report.inserted, report.days_rolled_up), (1, 2));
    let mut importer = Importer::connect(db.url()).await.unwrap();
    assert_eq!(importer.verify().await.unwrap().n_mismatches, 0);
    importer.close().await;
    source(&db).await;
}

/// Layout 6 is layout 7 with no late samples waiting: the next import, even of nothing,
/// records layout 7 and rewrites nothing, where a service refused it before.
#[tokio::test]
async fn rollups_of_layout_6_are_taken_as_they_are_by_the_next_import() {
    let db = TestDb::new();
    let series = key("A1", 1);
    let minutes = (0..3000).map(|n| (series.clone(), T0_NS + n * MINUTE_NS, n as f64 / 8.0));
    insights_pg::import(db.url(), minutes).await.unwrap();
    db.execute("UPDATE power_sample_facts SET value = 6 WHERE name = 'rollup_version'");
    let written = rollup_digest(&db);
    assert_eq!(
        PgTimeSeries::connect(&config(&db))
            .await
            .expect_err("layout 6"),
        insights_pg::PgSetupError::RollupsMissing
    );
    insights_pg::import(db.url(), std::iter::empty())
        .await
        .unwrap();
    assert_eq!(rollup_digest(&db), written, "nothing rewritten");
    let version =
        db.query_text("SELECT value::text FROM power_sample_facts WHERE name = 'rollup_version'");
    assert_eq!(version[0][0].as_deref(), Some("7"));
    let day = [
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0_NS)).unwrap(),
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0_NS + DAY_NS)).unwrap(),
    ];
    let answer = source(&db)
        .await
        .range_stats(&[series], &day)
        .await
        .unwrap();
    assert_eq!(answer[0][0].n_samples(), 1440);
}

#[tokio::test]
async fn rollups_of_the_layout_with_one_interval_and_real_sums_are_replaced_by_the_next_import() {
    let db = TestDb::new();
    let series = key("A1", 1);
    let minute = |n: i64, watts: f64| (series.clone(), T0_NS + n * MINUTE_NS, watts);
    insights_pg::import(db.url(), [minute(0, 0.1), minute(1, 0.2)].into_iter())
        .await
        .unwrap();
    // As layout 4 left it: a double `real_sum`, one global gap histogram and interval.
    db.execute(
        "ALTER TABLE power_rollups RENAME COLUMN micro_sum TO real_sum;
         DROP TABLE power_sample_gaps, power_series_intervals;
         CREATE TABLE power_sample_gaps (gap_ns bigint PRIMARY KEY, n bigint NOT NULL);
         UPDATE power_sample_facts SET value = 4 WHERE name = 'rollup_version';
         INSERT INTO power_sample_facts VALUES ('nominal_interval_ns', 10000000000)",
    );
    let refused = PgTimeSeries::connect(&config(&db))
        .await
        .expect_err("rollups of another layout are not read");
    assert_eq!(refused, insights_pg::PgSetupError::RollupsMissing);
    // Connecting an importer applies the schema, which drops the old rollups; answers wait
    // for the next import, which rolls everything up again.
    let mut importer = Importer::connect(db.url()).await.unwrap();
    assert_eq!(
        PgTimeSeries::connect(&config(&db))
            .await
            .expect_err("dropped"),
        insights_pg::PgSetupError::RollupsMissing
    );
    let report = importer.import([minute(2, 0.3)].into_iter()).await.unwrap();
    assert_eq!((report.inserted, report.series_measured), (1, 1));
    assert_eq!(importer.verify().await.unwrap().n_mismatches, 0);
    importer.close().await;
    let source = source(&db).await;
    let day = [
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0_NS)).unwrap(),
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0_NS + DAY_NS)).unwrap(),
    ];
    let stats = source.range_stats(&[series], &day).await.unwrap()[0][0];
    // Exact: 0.1 + 0.2 + 0.3 is 0.6, not 0.6000000000000001.
    assert_eq!((stats.n_samples(), stats.total().as_f64()), (3, 0.6));
    assert_eq!(stats.energy_wh(), 0.6 * 60.0 / 3600.0);
}

/// Of two samples of one series and instant in a batch, the first is kept, whether the
/// batch's series come together or apart (a batch whose series come apart is sorted before
/// its insert, and 200 pairs whose second copies come in the reverse order of the first are
/// enough for a sort without the batch's order as its last key to get some wrong).
#[tokio::test]
async fn the_first_of_two_samples_at_one_instant_in_a_batch_wins_however_it_is_ordered() {
    let db = TestDb::new();
    let a = key("A1", 1);
    let at = |minutes: i64| T0_NS + minutes * MINUTE_NS;
    let series: Vec<SeriesKey> = (0..200).map(|n| key(&format!("S{n:03}"), 1)).collect();
    let mut importer = Importer::connect(db.url()).await.unwrap();
    let batches: [Vec<Sample>; 2] = [
        // Together: A1's duplicate at minute 1.
        vec![
            (a.clone(), at(0), 1.0),
            (a.clone(), at(1), 2.0),
            (a.clone(), at(1), 3.0),
        ],
        // Apart: each series' first copy at minute 3 says 1 W, its second 2 W.
        series
            .iter()
            .map(|key| (key.clone(), at(3), 1.0))
            .chain(series.iter().rev().map(|key| (key.clone(), at(3), 2.0)))
            .collect(),
    ];
    for batch in batches {
        importer.import(batch.into_iter()).await.unwrap();
    }
    assert_eq!(importer.verify().await.unwrap().n_mismatches, 0);
    importer.close().await;
    assert_eq!(
        db.query_text(
            "SELECT left(duid, 1), count(*)::text, sum(watts)::text FROM power_samples
             GROUP BY 1 ORDER BY 1"
        ),
        [
            [
                Some("A".to_owned()),
                Some("2".to_owned()),
                Some("3".to_owned())
            ],
            [
                Some("S".to_owned()),
                Some("200".to_owned()),
                Some("200".to_owned())
            ],
        ]
    );
}

/// A batch that appends, its series apart in time order, counts its spacings, the one from
/// each series' newest stored sample included, as a recount would, and measures the series'
/// intervals.
#[tokio::test]
async fn a_batch_that_appends_counts_its_spacings_and_the_one_from_each_series_stored_end() {
    let db = TestDb::new();
    let (a, b) = (key("A1", 1), key("B2", 1));
    let at = |seconds: i64| T0_NS + seconds * 1_000_000_000;
    let mut importer = Importer::connect(db.url()).await.unwrap();
    // Stored: A1 every 60 s to 540 s, B2 every 30 s to 270 s.
    let stored: Vec<Sample> = (0..10)
        .flat_map(|n| [(a.clone(), at(n * 60), 1.5), (b.clone(), at(n * 30), 2.25)])
        .collect();
    importer.import(stored.into_iter()).await.unwrap();
    // Then, in time order: A1 90 s after its end, then 60, 60 and 120 s apart; B2 375 s after
    // its end, then 30 and 30 s apart.
    let appended = vec![
        (a.clone(), at(630), 3.0),
        (b.clone(), at(645), 4.0),
        (b.clone(), at(675), 4.0),
        (a.clone(), at(690), 3.0),
        (b.clone(), at(705), 4.0),
        (a.clone(), at(750), 3.0),
        (a.clone(), at(870), 3.0),
    ];
    let report = importer.import(appended.into_iter()).await.unwrap();
    assert_eq!((report.inserted, report.series_measured), (7, 2));
    assert_eq!(importer.verify().await.unwrap().n_mismatches, 0);
    importer.close().await;
    let text = |row: [&str; 3]| row.map(|cell| Some(cell.to_owned())).to_vec();
    assert_eq!(
        db.query_text(
            "SELECT duid, (gap_ns / 1000000000)::text, n::text FROM power_sample_gaps
             ORDER BY duid, gap_ns"
        ),
        [
            text(["A1", "60", "11"]),
            text(["A1", "90", "1"]),
            text(["A1", "120", "1"]),
            text(["B2", "30", "11"]),
            text(["B2", "375", "1"]),
        ]
    );
    assert_eq!(
        db.query_text(
            "SELECT duid, (interval_ns / 1000000000)::text FROM power_series_intervals ORDER BY duid"
        ),
        [
            [Some("A1".to_owned()), Some("60".to_owned())],
            [Some("B2".to_owned()), Some("30".to_owned())],
        ]
    );
}

#[tokio::test]
async fn late_samples_far_apart_update_the_gap_counts_of_their_own_stretches() {
    let db = TestDb::new();
    let series = key("A1", 1);
    let at = |nanos: i64, watts: f64| (series.clone(), T0_NS + nanos, watts);
    // Three days a minute apart, then one batch of samples far apart: half a minute into day
    // one, a quarter into a minute of day three, one after the series' last sample, one a
    // day before its first, and a duplicate. Each changes only its own stretch.
    let minutes = (0..3 * 1440).map(|minute| at(minute * MINUTE_NS, 1.0));
    let mut importer = Importer::connect(db.url()).await.unwrap();
    importer.import(minutes).await.unwrap();
    let late = [
        at(100 * MINUTE_NS + 30_000_000_000, 2.0),
        at(2 * DAY_NS + 7 * MINUTE_NS + 15_000_000_000, 3.0),
        at(3 * DAY_NS + 5 * MINUTE_NS, 4.0),
        at(-DAY_NS, 5.0),
        at(0, 9.0),
    ];
    let report = importer.import(late.into_iter()).await.unwrap();
    assert_eq!((report.inserted, report.series_measured), (4, 1));
    let verified = importer.verify().await.unwrap();
    assert_eq!(verified.n_mismatches, 0, "{:?}", verified.mismatches);
    importer.close().await;
    let gaps = db.query_text(
        "SELECT g.gap_ns::text, g.n::text FROM power_sample_gaps g WHERE g.duid = 'A1' ORDER BY g.gap_ns",
    );
    let row = |gap_s: i64, n: i64| {
        vec![
            Some((gap_s * 1_000_000_000).to_string()),
            Some(n.to_string()),
        ]
    };
    // 4,319 minute spacings, less the two split in half or quarter, plus the halves and
    // quarters, the 6 minutes after the last sample and the day before the first.
    assert_eq!(
        gaps,
        vec![
            row(15, 1),
            row(30, 2),
            row(45, 1),
            row(60, 4317),
            row(360, 1),
            row(86_400, 1)
        ]
    );
}

#[tokio::test]
async fn a_bulk_import_leaves_its_tables_vacuumed_and_analyzed() {
    let db = TestDb::new();
    // 100,000 samples, the least the import settles after: 70 series a minute apart for
    // most of a day.
    let samples = (0..100_000i64).map(|index| {
        let series = key("S", 1 + (index % 70) as u32);
        (
            series,
            T0_NS + (index / 70) * MINUTE_NS,
            (index % 977) as f64,
        )
    });
    let report = insights_pg::import(db.url(), samples).await.unwrap();
    assert_eq!(report.inserted, 100_000);
    // Every page all-visible (index-only scans need not visit the heap) and row counts
    // known to the planner, with nothing run by hand.
    let settled = db.query_text(
        "SELECT relname, (relallvisible = relpages AND relpages > 0 AND reltuples > 0)::text
         FROM pg_class
         WHERE relname IN ('power_rollups', 'power_rollup_packs', 'power_samples_y2024m03')
         ORDER BY relname",
    );
    let expected: Vec<Vec<Option<String>>> = [
        "power_rollup_packs",
        "power_rollups",
        "power_samples_y2024m03",
    ]
    .iter()
    .map(|name| vec![Some((*name).to_owned()), Some("true".to_owned())])
    .collect();
    assert_eq!(settled, expected);
}

#[tokio::test]
async fn a_login_without_select_on_the_facts_is_told_of_the_grant_not_of_missing_samples() {
    let db = TestDb::new();
    insights_pg::import(db.url(), [(key("A1", 1), T0_NS, 5.0)].into_iter())
        .await
        .unwrap();
    // Roles belong to the whole server, so this one is named after the scratch database and
    // dropped after.
    let role = format!("no_grant_{}", db.name());
    db.execute(&format!("CREATE ROLE {role} LOGIN PASSWORD 'no-grant'"));
    let (host, port) = db.host_port();
    let login = PgConfig {
        url: format!(
            "host={host} port={port} user={role} password=no-grant dbname={}",
            db.name()
        ),
        ..config(&db)
    };
    let refused = PgTimeSeries::connect(&login)
        .await
        .expect_err("a login without SELECT on power_sample_facts cannot start");
    assert_eq!(
        refused,
        insights_pg::PgSetupError::PermissionDenied {
            table: "power_sample_facts",
            reason: "permission denied for table power_sample_facts (SQLSTATE 42501)".to_owned(),
        }
    );
    assert_eq!(
        refused.to_string(),
        "the database login may not read power_sample_facts: permission denied for table power_sample_facts (SQLSTATE 42501); grant it SELECT on the time-series tables, as db/timeseries.sql grants insights_reader (GRANT insights_reader TO <login>)"
    );
    // The grant the message names is the fix.
    db.execute(&format!("GRANT insights_reader TO {role}"));
    drop(PgTimeSeries::connect(&login).await.unwrap());
    db.drop_with_role(&role);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importers_running_at_once_take_turns_and_leave_the_rollups_true() {
    let db = TestDb::new();
    // The schema first, so the importers race on samples and rollups, not on DDL.
    insights_pg::import(db.url(), std::iter::empty())
        .await
        .unwrap();
    // Interleaved halves of the same days, so both recompute every day's rollups.
    let (mut even, mut odd) = (Vec::new(), Vec::new());
    for (index, sample) in samples().into_iter().enumerate() {
        if index % 2 == 0 {
            even.push(sample);
        } else {
            odd.push(sample);
        }
    }
    let (mut first, mut second) = (
        Importer::connect(db.url()).await.unwrap(),
        Importer::connect(db.url()).await.unwrap(),
    );
    let (a, b) = tokio::join!(
        first.import(even.into_iter()),
        second.import(odd.into_iter())
    );
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    assert_eq!(first.verify().await.unwrap().n_mismatches, 0);
    first.close().await;
    second.close().await;
}

#[tokio::test]
async fn verify_finds_a_pack_that_differs_from_the_rows_and_rebuild_restores_it() {
    let db = TestDb::new();
    let series = key("A1", 1);
    let samples = (0..3000).map(|n| (series.clone(), T0_NS + n * MINUTE_NS, (n % 7) as f64));
    insights_pg::import(db.url(), samples).await.unwrap();
    let mut importer = Importer::connect(db.url()).await.unwrap();
    assert_eq!(importer.verify().await.unwrap().n_mismatches, 0);
    let packs =
        |db: &TestDb| db.query_text("SELECT count(*)::text FROM power_rollup_packs")[0][0].clone();
    // 50 hours of samples from 2024-03-09, so a watermark 2 hours before the last, at 23:45 on
    // the 10th: hourly packs (a UTC day of each phase) of each of the 4 phases on the 9th and
    // 10th, and of the 3 phases whose hours start late on the 8th (3 + 2 × 4), and daily packs
    // (32 days from the epoch) of each of the 96 phases.
    let before = packs(&db);
    assert_eq!(before.as_deref(), Some("107"));
    // One row of one pack off by one sample, and one pack gone.
    db.execute(
        "UPDATE power_rollup_packs SET entries = set_byte(entries, 11, get_byte(entries, 11) + 1)
         WHERE (span_s, phase_s, start) = (3600, 900, '2024-03-10T00:15:00Z');
         DELETE FROM power_rollup_packs WHERE (span_s, phase_s) = (86400, 0)",
    );
    let report = importer.verify().await.unwrap();
    assert_eq!(report.n_mismatches, 2, "{:?}", report.mismatches);
    assert!(report
        .mismatches
        .iter()
        .all(|line| line.contains(" pack of span ")));
    assert!(report
        .mismatches
        .iter()
        .any(|line| line.contains("stored no pack")));
    importer.rebuild(None, None).await.unwrap();
    assert_eq!(importer.verify().await.unwrap().n_mismatches, 0);
    assert_eq!(packs(&db), before);
    importer.close().await;
}

/// 2024-04-25T00:00:00Z: two days before a UTC midnight that starts both an 8-day and a
/// 64-day block (day 19,840 since the epoch).
const STREAM_T0_NS: i64 = 1_714_003_200_000_000_000;

/// A stream as sensors send it, from `seed`: three series over 2.5 days, one over the first
/// 0.9 days and one over the last 0.9, a minute apart (one every 10 s for a while, with jitter), fractional watts; sent in
/// batches of 1 to `longest` minutes, now and then of 2,000, each sample held back to a later
/// batch with `late_percent` % chance (by up to two days' worth of batches) and sent twice
/// with 5 % chance.
fn stream(seed: u64, longest: u64, late_percent: u64) -> Vec<Vec<Sample>> {
    let mut random = Lcg(seed);
    let mut samples: Vec<Sample> = Vec::new();
    let keys = [
        key("S1", 1),
        key("S1", 2),
        key("T2", 3),
        key("U4", 1),
        key("V5", 2),
    ];
    for (index, key) in keys.into_iter().enumerate() {
        // U4 falls silent before the blocks' edge, whose blocks end there all the same; V5
        // first reports long after the others.
        let (start, end) = match index {
            3 => (0, DAY_NS * 9 / 10),
            4 => (DAY_NS * 8 / 5, DAY_NS * 5 / 2),
            _ => (0, DAY_NS * 5 / 2),
        };
        let mut at = STREAM_T0_NS + start + index as i64 * 1_000_000;
        while at < STREAM_T0_NS + end {
            let watts = random.below(4_000_000) as f64 / 1000.0 - 100.0;
            samples.push((key.clone(), at, watts));
            let fast =
                index == 1 && (DAY_NS..DAY_NS + 6 * 60 * MINUTE_NS).contains(&(at - STREAM_T0_NS));
            at += if fast {
                10_000_000_000
            } else {
                MINUTE_NS + random.below(3) as i64 * 1_000_000
            };
        }
    }
    samples.sort_by_key(|sample| sample.1);
    let mut batches: Vec<Vec<Sample>> = Vec::new();
    let mut held: Vec<(usize, Sample)> = Vec::new();
    let mut next = 0;
    let mut until = STREAM_T0_NS;
    while next < samples.len() || !held.is_empty() {
        // Now and then a batch of more than a day, as after an outage.
        let minutes = if random.below(40) == 0 {
            2000
        } else {
            1 + random.below(longest)
        };
        until += minutes as i64 * MINUTE_NS;
        let index = batches.len();
        let mut batch = Vec::new();
        while next < samples.len() && samples[next].1 < until {
            let sample = samples[next].clone();
            next += 1;
            if random.below(100) < late_percent {
                held.push((
                    index + 1 + random.below(2 * 1440 / longest) as usize,
                    sample,
                ));
                continue;
            }
            if random.below(20) == 0 {
                held.push((index + 1 + random.below(50) as usize, sample.clone()));
            }
            batch.push(sample);
        }
        let (due, later): (Vec<_>, Vec<_>) = held
            .drain(..)
            .partition(|(at, _)| *at <= index || next == samples.len());
        held = later;
        batch.extend(due.into_iter().map(|(_, sample)| sample));
        batches.push(batch);
    }
    batches
}

/// Windows that read every kind of rollup row over a stream's days: the whole stream by the
/// quarter hour, by the hour in Kathmandu (+05:45), by the day in New York (-04:00 then), and
/// in one piece, on the grid and off it.
fn stream_windows() -> Vec<Vec<OffsetDateTime>> {
    let at = |ns: i64| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).unwrap();
    let every = |first: i64, step: i64, count: i64| -> Vec<OffsetDateTime> {
        (0..=count).map(|index| at(first + index * step)).collect()
    };
    let hour = 60 * MINUTE_NS;
    vec![
        every(STREAM_T0_NS, 15 * MINUTE_NS, 3 * 96),
        every(STREAM_T0_NS - 6 * hour + 15 * MINUTE_NS, hour, 80),
        every(STREAM_T0_NS - 20 * hour, DAY_NS, 4),
        vec![at(STREAM_T0_NS - DAY_NS), at(STREAM_T0_NS + 3 * DAY_NS)],
        vec![
            at(STREAM_T0_NS + 7 * MINUTE_NS + 13),
            at(STREAM_T0_NS + 2 * DAY_NS + 7 * MINUTE_NS),
        ],
    ]
}

/// Streamed batches, late, duplicate and out of order, across day, phase and block edges,
/// leave rows that `verify` finds true, with their late samples waiting or settled; answers
/// are the same before and after settling, and after a full rebuild; and once settled, the
/// rows and packs are exactly those a full rebuild makes. A day's rebuild while late samples
/// wait takes those of its day with it.
#[test]
fn streamed_batches_leave_the_rollups_a_full_rebuild_makes() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 6,
        failure_persistence: None,
        ..Config::default()
    });
    let cases = (any::<u64>(), 20u64..240, 0u64..30);
    let cases_that_deferred = std::cell::Cell::new(0);
    let series: Vec<SeriesKey> = vec![
        key("S1", 1),
        key("S1", 2),
        key("T2", 3),
        key("U4", 1),
        key("V5", 2),
    ];
    let outcome = runner.run(&cases, |(seed, longest, late_percent)| {
        let batches = stream(seed, longest, late_percent);
        let db = TestDb::new();
        let outcome = runtime.block_on(async {
            let mut importer = Importer::connect(db.url()).await.unwrap();
            let mut deferred = 0;
            for batch in &batches {
                let report = importer.import(batch.iter().cloned()).await.unwrap();
                deferred += report.late_deferred;
            }
            let source = source(&db).await;
            let mut answers = Vec::new();
            let mut mismatches = Vec::new();
            let mut digests = Vec::new();
            // Answers and `verify` with the late samples waiting; after a day's rebuild in
            // the middle, which takes that day's; with two series-days settled; all settled;
            // and after a rebuild of everything.
            for step in 0..5 {
                match step {
                    1 => {
                        let at = |ns: i64| {
                            OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).unwrap()
                        };
                        let middle = STREAM_T0_NS + DAY_NS;
                        importer
                            .rebuild(Some(at(middle)), Some(at(middle + DAY_NS / 2)))
                            .await
                            .unwrap();
                    }
                    2 => {
                        let settled = importer.settle_late(2).await.unwrap();
                        assert!(settled.series_days <= 2, "{settled:?}");
                    }
                    3 => {
                        importer.settle_all_late().await.unwrap();
                        assert_eq!(late_waiting(&db), 0, "settled");
                        digests.push(rollup_digest(&db));
                    }
                    4 => {
                        importer.rebuild(None, None).await.unwrap();
                        digests.push(rollup_digest(&db));
                    }
                    _ => {}
                }
                let mut step_answers = Vec::new();
                for edges in stream_windows() {
                    step_answers.push(source.range_stats(&series, &edges).await.unwrap());
                }
                answers.push(step_answers);
                mismatches.extend(importer.verify().await.unwrap().mismatches);
            }
            importer.close().await;
            (deferred, answers, mismatches, digests)
        });
        let (deferred, answers, mismatches, digests) = outcome;
        if deferred > 0 {
            cases_that_deferred.set(cases_that_deferred.get() + 1);
        }
        prop_assert!(
            mismatches.is_empty(),
            "{} batches: {:?}",
            batches.len(),
            mismatches
        );
        for (step, step_answers) in answers.iter().enumerate().skip(1) {
            prop_assert_eq!(
                &answers[0],
                step_answers,
                "{} batches: answers at step {} against those with late samples waiting",
                batches.len(),
                step
            );
        }
        prop_assert_eq!(
            &digests[0],
            &digests[1],
            "{} batches: settled, then all rebuilt",
            batches.len()
        );
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    assert!(
        cases_that_deferred.get() > 0,
        "no case left late samples waiting"
    );
}

/// An importer of another layout rewriting the rollups under a running source: its reads are
/// refused as unavailable (a 503, retryable) once it next reads the watermark, at most a
/// second later, rather than planned by a layout that no longer holds; and they answer again
/// once the layout matches.
#[tokio::test]
async fn rollups_of_another_layout_written_under_a_running_source_are_refused() {
    let db = TestDb::new();
    let series = [key("A1", 1)];
    let samples = (0..120).map(|n| (series[0].clone(), T0_NS + n * MINUTE_NS, 5.0));
    insights_pg::import(db.url(), samples).await.unwrap();
    let source = source(&db).await;
    let day = [
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0_NS)).unwrap(),
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(T0_NS + DAY_NS)).unwrap(),
    ];
    let answer = source.range_stats(&series, &day).await.unwrap();
    assert_eq!(answer[0][0].n_samples(), 120);
    db.execute("UPDATE power_sample_facts SET value = 8 WHERE name = 'rollup_version'");
    // Past the second a watermark is reused for.
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    match source.range_stats(&series, &day).await {
        Err(insights_core::TimeSeriesError::Unavailable { reason }) => assert!(
            reason.contains("layout 8") && reason.contains("layout 7"),
            "{reason}"
        ),
        other => panic!("expected the read refused as unavailable, got {other:?}"),
    }
    db.execute("UPDATE power_sample_facts SET value = 7 WHERE name = 'rollup_version'");
    let answer = source.range_stats(&series, &day).await.unwrap();
    assert_eq!(answer[0][0].n_samples(), 120);
}
