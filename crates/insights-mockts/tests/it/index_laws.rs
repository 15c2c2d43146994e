//! Property tests: the index answers exactly what a naive scan of the input answers, and windows add up.

use insights_core::{Duid, SeriesKey, UsageStats, Window, DEFAULT_MAX_WINDOW};
use insights_mockts::MockTimeSeries;
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

const BASE: OffsetDateTime = time::macros::datetime!(2024-04-01 00:00 UTC);

fn key() -> SeriesKey {
    SeriesKey {
        duid: Duid("P".into()),
        circuit_number: 1,
    }
}

/// The samples with distinct offsets (seconds from BASE), as the file will hold them.
fn distinct(offsets: &[u32], watts: &[f64]) -> Vec<(u32, f64)> {
    let mut seen = std::collections::BTreeSet::new();
    offsets
        .iter()
        .zip(watts)
        .filter(|(offset, _)| seen.insert(**offset))
        .map(|(offset, watts)| (*offset, *watts))
        .collect()
}

/// The series' interval by counting spacings: the most common, the shorter on a tie.
fn naive_interval(samples: &[(u32, f64)]) -> Duration {
    let mut offsets: Vec<i64> = samples
        .iter()
        .map(|(offset, _)| i64::from(*offset))
        .collect();
    offsets.sort_unstable();
    let mut counts = std::collections::BTreeMap::<i64, usize>::new();
    for pair in offsets.windows(2) {
        *counts.entry(pair[1] - pair[0]).or_default() += 1;
    }
    let most = counts.values().copied().max();
    counts
        .into_iter()
        .find(|(_, count)| Some(*count) == most)
        .map_or(Duration::minutes(1), |(spacing, _)| {
            Duration::seconds(spacing)
        })
}

/// The statistics of the samples in a window, by filtering the input itself.
fn naive(samples: &[(u32, f64)], window: &Window) -> UsageStats {
    let inside = samples
        .iter()
        .filter(|(offset, _)| {
            let at = (BASE + Duration::seconds(i64::from(*offset))).unix_timestamp_nanos();
            window.start_nanos() <= at && at < window.end_nanos()
        })
        .map(|(_, watts)| *watts);
    UsageStats::of_samples(inside, naive_interval(samples))
}

/// A series of samples at irregular offsets (seconds from BASE), integer or fractional watts.
fn source(offsets: &[u32], watts: &[f64]) -> MockTimeSeries {
    let rows: Vec<String> = distinct(offsets, watts)
        .iter()
        .map(|(offset, watts)| {
            let timestamp = insights_core::format_utc(BASE + Duration::seconds(i64::from(*offset)));
            format!(r#"{{"duid":"P","circuit_number":1,"timestamp":"{timestamp}","power_watts":{watts:?}}}"#)
        })
        .collect();
    MockTimeSeries::from_reader(format!("[{}]", rows.join(",")).as_bytes()).unwrap()
}

fn window(start_ns: i64, length_ns: i64) -> Window {
    Window::new(
        BASE + Duration::nanoseconds(start_ns),
        BASE + Duration::nanoseconds(start_ns + length_ns),
        DEFAULT_MAX_WINDOW,
    )
    .unwrap()
}

/// Sums are exact, so the index and the scan agree to the last bit, fractions too.
fn assert_same(index: UsageStats, scan: UsageStats) {
    assert_eq!(index, scan);
}

fn integer_watts() -> impl Strategy<Value = f64> {
    (-5_000i64..50_000).prop_map(|watts| watts as f64)
}

fn any_watts() -> impl Strategy<Value = f64> {
    prop_oneof![integer_watts(), (-5_000.0f64..50_000.0)]
}

proptest! {
    #[test]
    fn index_equals_naive_scan_for_integers(
        samples in prop::collection::vec((0u32..20_000, integer_watts()), 0..600),
        start in -1_000_000_000_000i64..21_000_000_000_000,
        length in 1i64..25_000_000_000_000,
    ) {
        let (offsets, watts): (Vec<u32>, Vec<f64>) = samples.into_iter().unzip();
        let source = source(&offsets, &watts);
        let window = window(start, length);
        let index = source.series_stats(&key(), &window);
        // Integer samples are exact: equal to the last bit, not just close.
        prop_assert_eq!(index, naive(&distinct(&offsets, &watts), &window));
    }

    #[test]
    fn index_matches_naive_scan_for_fractions(
        samples in prop::collection::vec((0u32..20_000, any_watts()), 0..600),
        start in -1_000_000_000_000i64..21_000_000_000_000,
        length in 1i64..25_000_000_000_000,
    ) {
        let (offsets, watts): (Vec<u32>, Vec<f64>) = samples.into_iter().unzip();
        let source = source(&offsets, &watts);
        let window = window(start, length);
        assert_same(source.series_stats(&key(), &window), naive(&distinct(&offsets, &watts), &window));
    }

    #[test]
    fn adjacent_windows_add_up(
        samples in prop::collection::vec((0u32..20_000, integer_watts()), 0..600),
        start in -1_000_000_000_000i64..20_000_000_000_000,
        first in 1i64..10_000_000_000_000,
        second in 1i64..10_000_000_000_000,
    ) {
        let (offsets, watts): (Vec<u32>, Vec<f64>) = samples.into_iter().unzip();
        let source = source(&offsets, &watts);
        let whole = window(start, first + second);
        let (left, right) = whole.split_at(BASE + Duration::nanoseconds(start + first)).unwrap();
        let parts = source.series_stats(&key(), &left).merge(source.series_stats(&key(), &right));
        prop_assert_eq!(parts, source.series_stats(&key(), &whole));
    }
}

proptest! {
    #[test]
    fn range_stats_equal_one_window_query_per_range(
        samples in prop::collection::vec((0u32..20_000, integer_watts()), 0..400),
        mut cuts in prop::collection::vec(-1_000_000_000_000i64..22_000_000_000_000, 2..40),
    ) {
        let (offsets, watts): (Vec<u32>, Vec<f64>) = samples.into_iter().unzip();
        let source = source(&offsets, &watts);
        cuts.sort_unstable();
        cuts.dedup();
        prop_assume!(cuts.len() >= 2);
        let edges: Vec<i128> = cuts.iter().map(|cut| (BASE + Duration::nanoseconds(*cut)).unix_timestamp_nanos()).collect();
        let ranges = source.series_range_stats(&key(), &edges);
        prop_assert_eq!(ranges.len(), cuts.len() - 1);
        for (pair, stats) in cuts.windows(2).zip(ranges) {
            prop_assert_eq!(stats, source.series_stats(&key(), &window(pair[0], pair[1] - pair[0])));
        }
    }
}
