//! The merge laws, roll-ups that equal the sum of their parts, buckets that add up, and peaks.

use std::collections::HashMap;

use futures_executor::block_on;
use insights_core::{
    BucketWidth, Catalogue, DemandInterval, EntityRef, Extent, InMemoryMetadata, Insights,
    MetadataRepo, Peak, Scope, SeriesKey, TimeSeriesError, TimeSeriesSource, UsageRequest,
    UsageStats, Window, Zone, DEFAULT_MAX_WINDOW,
};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

pub(crate) const BASE: OffsetDateTime = time::macros::datetime!(2024-04-01 00:00 UTC);

/// Samples per series as (seconds after BASE, watts), answered by scanning everything.
#[derive(Debug)]
pub(crate) struct ScanSource(pub(crate) HashMap<SeriesKey, Vec<(i64, f64)>>);

impl ScanSource {
    /// The series' nominal interval, found by counting its spacings: the most common, the
    /// shorter on a tie, and a minute without any.
    pub(crate) fn interval(&self, key: &SeriesKey) -> Duration {
        let mut seconds: Vec<i64> = self
            .0
            .get(key)
            .into_iter()
            .flatten()
            .map(|(second, _)| *second)
            .collect();
        seconds.sort_unstable();
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for pair in seconds.windows(2) {
            *counts.entry(pair[1] - pair[0]).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by_key(|&(spacing, count)| (count, std::cmp::Reverse(spacing)))
            .map_or(Duration::minutes(1), |(spacing, _)| {
                Duration::seconds(spacing)
            })
    }
}

impl TimeSeriesSource for ScanSource {
    async fn extent(&self, series: &[SeriesKey]) -> Result<Option<Extent>, TimeSeriesError> {
        let seconds = series
            .iter()
            .filter_map(|key| self.0.get(key))
            .flatten()
            .map(|(second, _)| *second);
        let interval = series
            .iter()
            .filter(|key| self.0.get(*key).is_some_and(|samples| !samples.is_empty()))
            .map(|key| self.interval(key))
            .min();
        let (first, last) = (seconds.clone().min(), seconds.max());
        Ok(first
            .zip(last)
            .zip(interval)
            .map(|((first, last), interval)| Extent {
                first: BASE + Duration::seconds(first),
                last: BASE + Duration::seconds(last),
                interval,
            }))
    }

    async fn has_samples_from(
        &self,
        series: &[SeriesKey],
        from: OffsetDateTime,
    ) -> Result<bool, TimeSeriesError> {
        Ok(series
            .iter()
            .filter_map(|key| self.0.get(key))
            .flatten()
            .any(|(second, _)| BASE + Duration::seconds(*second) >= from))
    }

    async fn window_stats(
        &self,
        series: &[SeriesKey],
        window: &Window,
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        Ok(series
            .iter()
            .map(|key| {
                let samples = self
                    .0
                    .get(key)
                    .into_iter()
                    .flatten()
                    .filter(|(second, _)| {
                        let at = (BASE + Duration::seconds(*second)).unix_timestamp_nanos();
                        window.start_nanos() <= at && at < window.end_nanos()
                    })
                    .map(|(_, watts)| *watts);
                UsageStats::of_samples(samples, self.interval(key))
            })
            .collect())
    }

    insights_core::slow_range_stats!(range_stats, combined_range_stats);
}

/// Samples of one series, whole or fractional, at one of a few intervals, so that merges
/// mix intervals.
fn stats() -> impl Strategy<Value = UsageStats> {
    let interval = prop_oneof![Just(60i64), Just(10), Just(1), Just(900)];
    (prop::collection::vec(samples_watts(), 0..20), interval)
        .prop_map(|(samples, seconds)| UsageStats::of_samples(samples, Duration::seconds(seconds)))
}

/// Whole watts, or watts with fractions, within the bounds every source accepts.
fn samples_watts() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1_000_000i64..1_000_000).prop_map(|watts| watts as f64),
        -1e9f64..1e9,
        -10f64..10.0,
    ]
}

proptest! {
    #[test]
    fn merge_has_an_identity(a in stats()) {
        prop_assert_eq!(a.merge(UsageStats::EMPTY), a);
        prop_assert_eq!(UsageStats::EMPTY.merge(a), a);
    }

    #[test]
    fn merge_is_commutative(a in stats(), b in stats()) {
        prop_assert_eq!(a.merge(b), b.merge(a));
    }

    #[test]
    fn merge_is_associative(a in stats(), b in stats(), c in stats()) {
        prop_assert_eq!(a.merge(b).merge(c), a.merge(b.merge(c)));
    }

    #[test]
    fn merging_summaries_summarises_the_union(a in prop::collection::vec(samples_watts(), 0..30), b in prop::collection::vec(samples_watts(), 0..30)) {
        let minute = Duration::minutes(1);
        let whole = UsageStats::of_samples(a.iter().chain(&b).copied(), minute);
        let parts = UsageStats::of_samples(a.iter().copied(), minute).merge(UsageStats::of_samples(b.iter().copied(), minute));
        prop_assert_eq!(whole, parts);
    }
}

fn seed_keys() -> Vec<SeriesKey> {
    block_on(InMemoryMetadata::seed().circuit_series()).unwrap()
}

/// Random samples for some of the seed's circuits, within the first two hours.
fn source() -> impl Strategy<Value = ScanSource> {
    prop::collection::vec((0usize..36, 0i64..7200, 0i64..5000), 0..300).prop_map(|samples| {
        let keys = seed_keys();
        let mut series: HashMap<SeriesKey, Vec<(i64, f64)>> = HashMap::new();
        for (circuit, second, watts) in samples {
            let entry = series.entry(keys[circuit].clone()).or_default();
            if !entry.iter().any(|(existing, _)| *existing == second) {
                entry.push((second, watts as f64));
            }
        }
        ScanSource(series)
    })
}

fn window(start_second: i64, length_seconds: i64) -> Window {
    Window::new(
        BASE + Duration::seconds(start_second),
        BASE + Duration::seconds(start_second + length_seconds),
        DEFAULT_MAX_WINDOW,
    )
    .unwrap()
}

proptest! {
    #[test]
    fn organization_total_is_the_sum_of_locations_and_of_circuits(source in source(), start in -600i64..7200, length in 1i64..9000, organization in 0usize..3) {
        let catalogue = Catalogue::seed();
        let insights = Insights::new(InMemoryMetadata::seed(), source);
        let organization = &catalogue.organizations[organization];
        let window = window(start, length);
        let request = UsageRequest::window(window);
        let answer = block_on(insights.organization_usage(&Scope::All, organization.id, &request)).unwrap();
        let total = answer.rollup.total;

        let by_locations: UsageStats = answer.rollup.parts.iter().map(|location| location.usage.figures.usage.stats).sum();
        prop_assert_eq!(total.figures.usage.stats, by_locations);

        let circuits: Vec<_> = answer.entity.locations.iter().flat_map(|location| &location.sensors).flat_map(|sensor| &sensor.circuits).collect();
        let by_circuits: UsageStats = circuits
            .iter()
            .map(|circuit| block_on(insights.circuit_usage(&Scope::All, circuit.id, &request)).unwrap().rollup.total.figures.usage.stats)
            .sum();
        prop_assert_eq!(total.figures.usage.stats, by_circuits);
        prop_assert_eq!(total.circuit_count, circuits.len());
        prop_assert_eq!(answer.rollup.parts.iter().map(|location| location.usage.circuit_count).sum::<usize>(), circuits.len());
    }

    #[test]
    fn circuit_usage_over_adjacent_windows_adds_up(source in source(), start in -600i64..7200, first in 1i64..5000, second in 1i64..5000, circuit in 0usize..36) {
        let catalogue = Catalogue::seed();
        let insights = Insights::new(InMemoryMetadata::seed(), source);
        let circuit_id = catalogue.circuits[circuit].id;
        let whole = window(start, first + second);
        let (left, right) = whole.split_at(BASE + Duration::seconds(start + first)).unwrap();
        let usage = |window: &Window| {
            block_on(insights.circuit_usage(&Scope::All, circuit_id, &UsageRequest::window(*window))).unwrap().rollup.total.figures.usage.stats
        };
        prop_assert_eq!(usage(&left).merge(usage(&right)), usage(&whole));
    }
}

fn width() -> impl Strategy<Value = BucketWidth> {
    prop::sample::select(vec![
        BucketWidth::Minute,
        BucketWidth::FiveMinutes,
        BucketWidth::FifteenMinutes,
        BucketWidth::Hour,
        BucketWidth::Day,
    ])
}

fn zone() -> impl Strategy<Value = Zone> {
    prop::sample::select(vec![
        "UTC",
        "America/New_York",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Europe/Berlin",
    ])
    .prop_map(|name| Zone::named(name).unwrap())
}

proptest! {
    #[test]
    fn buckets_add_up_to_the_whole_window(source in source(), start in -600i64..7200, length in 1i64..9000, width in width(), zone in zone(), organization in 0usize..3) {
        let catalogue = Catalogue::seed();
        let insights = Insights::new(InMemoryMetadata::seed(), source);
        let window = window(start, length);
        let request = UsageRequest::new(window, Some(width), Some(zone), None, None).unwrap();
        let answer = block_on(insights.organization_usage(&Scope::All, catalogue.organizations[organization].id, &request)).unwrap();
        let series = answer.rollup.series.unwrap();
        prop_assert_eq!(series.first().unwrap().bucket.start, window.start());
        prop_assert_eq!(series.last().unwrap().bucket.end, window.end());
        for pair in series.windows(2) {
            prop_assert_eq!(pair[0].bucket.end, pair[1].bucket.start);
        }
        let by_buckets: UsageStats = series.iter().map(|bucket| bucket.figures.usage.stats).sum();
        prop_assert_eq!(by_buckets, answer.rollup.total.figures.usage.stats);
        let unbucketed = block_on(insights.organization_usage(&Scope::All, catalogue.organizations[organization].id, &UsageRequest::window(window))).unwrap();
        prop_assert_eq!(by_buckets, unbucketed.rollup.total.figures.usage.stats);
    }

    #[test]
    fn a_roll_up_series_is_the_sum_of_its_parts_series(source in source(), start in -600i64..7200, length in 1i64..9000, width in width(), zone in zone(), organization in 0usize..3) {
        let catalogue = Catalogue::seed();
        let insights = Insights::new(InMemoryMetadata::seed(), source);
        let request = UsageRequest::new(window(start, length), Some(width), Some(zone), None, None).unwrap();
        let answer = block_on(insights.organization_usage(&Scope::All, catalogue.organizations[organization].id, &request)).unwrap();
        let whole = answer.rollup.series.unwrap();
        let mut by_parts = vec![UsageStats::EMPTY; whole.len()];
        for location in &answer.entity.locations {
            let part = block_on(insights.location_usage(&Scope::All, location.location.id, &request)).unwrap();
            for (sum, bucket) in by_parts.iter_mut().zip(part.rollup.series.unwrap()) {
                *sum = sum.merge(bucket.figures.usage.stats);
            }
        }
        let whole: Vec<UsageStats> = whole.iter().map(|bucket| bucket.figures.usage.stats).collect();
        prop_assert_eq!(whole, by_parts);
    }

    #[test]
    fn the_peak_is_at_least_the_average_power_when_whole_intervals_cover_the_window(
        source in source(),
        start_interval in -2i64..10,
        n_intervals in 1i64..12,
        interval in prop::sample::select(vec!["5m", "15m", "30m", "1h"]),
        location in 0usize..6,
    ) {
        let catalogue = Catalogue::seed();
        let insights = Insights::new(InMemoryMetadata::seed(), source);
        let interval = DemandInterval::parse(interval).unwrap();
        let seconds = interval.width().fixed().unwrap().whole_seconds();
        let window = window(start_interval * seconds, n_intervals * seconds);
        let request = UsageRequest::new(window, None, None, Some(interval), None).unwrap();
        let answer = block_on(insights.location_usage(&Scope::All, catalogue.locations[location].id, &request)).unwrap();
        let usage = answer.rollup.total.figures.usage;
        let peak = answer.rollup.total.figures.peak_demand.found().expect("whole intervals fit");
        // Average power over the window: energy over length, the same formula as the peak's.
        let average_power = usage.energy_wh * 3600.0 / (window.length_nanos() as f64 / 1e9);
        prop_assert!(peak.watts >= average_power - 1e-9 * average_power.abs(), "{} < {}", peak.watts, average_power);
    }
}

proptest! {
    /// A brand's data range spans exactly its circuits' ranges, and its window reaches its
    /// end exactly when some sample lies at or after that end.
    #[test]
    fn a_data_range_is_the_merge_of_its_circuits(source in source(), end_second in 0i64..7300) {
        let source = std::sync::Arc::new(source);
        let insights = Insights::new(InMemoryMetadata::seed(), source.clone());
        let brand = Catalogue::seed().brands[0].id;
        let whole = block_on(insights.data_range(&Scope::All, Some(EntityRef::Brand(brand)))).unwrap();
        let mut merged: Option<Extent> = None;
        for circuit in &Catalogue::seed().circuits {
            let one = block_on(insights.data_range(&Scope::All, Some(EntityRef::Circuit(circuit.id)))).unwrap();
            prop_assert_eq!(one.circuit_count, 1);
            if let Some(extent) = one.extent {
                merged = Some(merged.map_or(extent, |known| known.merge(extent)));
            }
        }
        prop_assert_eq!(whole.circuit_count, 36);
        prop_assert_eq!(whole.extent, merged);
        let latest = source.0.values().flatten().map(|(second, _)| *second).max();
        let reaches = whole.reaches_end_of(&window(-1, end_second + 1));
        prop_assert_eq!(reaches, latest.is_some_and(|latest| latest >= end_second));
    }
}

proptest! {
    /// The baseload is found exactly when a whole quarter hour of the window holds a sample,
    /// and is never above the 15-minute peak demand, which counts the same intervals.
    #[test]
    fn baseload_is_found_where_samples_are_and_never_exceeds_the_peak(
        source in source(),
        start_second in 0i64..3600,
        length in 900i64..7200,
    ) {
        let samples: Vec<i64> = source.0.values().flatten().map(|(second, _)| *second).collect();
        let insights = Insights::new(InMemoryMetadata::seed(), source);
        let brand = Catalogue::seed().brands[0].id;
        let window = window(start_second, length);
        let request = UsageRequest::builder(window)
            .demand_interval(DemandInterval::parse("15m").unwrap())
            .baseload()
            .build()
            .unwrap();
        let answer = block_on(insights.brand_usage(&Scope::All, brand, &request)).unwrap();
        let figures = answer.rollup.total.figures;
        // Whole quarter hours on the UTC grid inside the window, as seconds after BASE.
        let first = (start_second + 899).div_euclid(900) * 900;
        let quarters: Vec<i64> = (0..).map(|k| first + k * 900).take_while(|q| q + 900 <= start_second + length).collect();
        let sampled = quarters.iter().any(|q| samples.iter().any(|s| *q <= *s && *s < q + 900));
        match (figures.baseload, figures.peak_demand) {
            (Peak::Found(low), Peak::Found(high)) => {
                prop_assert!(sampled);
                prop_assert!(low.watts <= high.watts);
            }
            (Peak::NoWholeInterval, _) => prop_assert!(!sampled),
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
