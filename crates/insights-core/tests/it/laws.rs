//! The merge laws, and roll-ups that equal the sum of their parts.

use std::collections::HashMap;

use futures_executor::block_on;
use insights_core::{
    Catalogue, InMemoryMetadata, Insights, SeriesKey, TimeSeriesError, TimeSeriesSource,
    UsageStats, Window, DEFAULT_MAX_WINDOW,
};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

const BASE: OffsetDateTime = time::macros::datetime!(2024-04-01 00:00 UTC);

/// Samples per series as (seconds after BASE, watts), answered by scanning everything.
#[derive(Debug)]
struct ScanSource(HashMap<SeriesKey, Vec<(i64, f64)>>);

impl TimeSeriesSource for ScanSource {
    fn nominal_interval(&self) -> Duration {
        Duration::minutes(1)
    }

    async fn window_stats(
        &self,
        series: &[SeriesKey],
        window: &Window,
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        Ok(series
            .iter()
            .map(|key| {
                self.0
                    .get(key)
                    .into_iter()
                    .flatten()
                    .filter(|(second, _)| {
                        let at = (BASE + Duration::seconds(*second)).unix_timestamp_nanos();
                        window.start_nanos() <= at && at < window.end_nanos()
                    })
                    .map(|(_, watts)| *watts)
                    .collect()
            })
            .collect())
    }
}

fn stats() -> impl Strategy<Value = UsageStats> {
    prop::collection::vec(-1_000_000i64..1_000_000, 0..20)
        .prop_map(|samples| samples.into_iter().map(|watts| watts as f64).collect())
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
    fn merging_summaries_summarises_the_union(a in prop::collection::vec(-1000i64..1000, 0..30), b in prop::collection::vec(-1000i64..1000, 0..30)) {
        let whole: UsageStats = a.iter().chain(&b).map(|watts| *watts as f64).collect();
        let parts = a.iter().map(|watts| *watts as f64).collect::<UsageStats>().merge(b.iter().map(|watts| *watts as f64).collect());
        prop_assert_eq!(whole, parts);
    }
}

fn seed_keys() -> Vec<SeriesKey> {
    let catalogue = Catalogue::seed();
    catalogue
        .circuits
        .iter()
        .map(|circuit| SeriesKey {
            duid: catalogue
                .sensors
                .iter()
                .find(|sensor| sensor.id == circuit.sensor_id)
                .unwrap()
                .duid
                .clone(),
            circuit_number: circuit.circuit_number,
        })
        .collect()
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
        let answer = block_on(insights.organization_usage(organization.id, &window)).unwrap();

        let by_locations: UsageStats = answer.locations.iter().map(|location| location.usage.usage.stats).sum();
        prop_assert_eq!(answer.usage.usage.stats, by_locations);

        let circuits: Vec<_> = answer.tree.locations.iter().flat_map(|location| &location.sensors).flat_map(|sensor| &sensor.circuits).collect();
        let by_circuits: UsageStats = circuits
            .iter()
            .map(|circuit| block_on(insights.circuit_usage(circuit.id, &window)).unwrap().usage.stats)
            .sum();
        prop_assert_eq!(answer.usage.usage.stats, by_circuits);
        prop_assert_eq!(answer.usage.circuit_count, circuits.len());
        prop_assert_eq!(answer.locations.iter().map(|location| location.usage.circuit_count).sum::<usize>(), circuits.len());
    }

    #[test]
    fn circuit_usage_over_adjacent_windows_adds_up(source in source(), start in -600i64..7200, first in 1i64..5000, second in 1i64..5000, circuit in 0usize..36) {
        let catalogue = Catalogue::seed();
        let insights = Insights::new(InMemoryMetadata::seed(), source);
        let circuit_id = catalogue.circuits[circuit].id;
        let whole = window(start, first + second);
        let (left, right) = whole.split_at(BASE + Duration::seconds(start + first)).unwrap();
        let usage = |window: &Window| block_on(insights.circuit_usage(circuit_id, window)).unwrap().usage.stats;
        prop_assert_eq!(usage(&left).merge(usage(&right)), usage(&whole));
    }
}
