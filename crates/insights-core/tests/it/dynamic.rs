//! The ports behind trait objects answer exactly as the implementations behind them.

use std::collections::HashMap;
use std::sync::Arc;

use futures_executor::block_on;
use insights_core::{
    Catalogue, DynMetadataRepo, DynTimeSeriesSource, InMemoryMetadata, MetadataRepo, SeriesKey,
    TimeSeriesSource, Window, DEFAULT_MAX_WINDOW,
};
use time::Duration;

use crate::laws::{ScanSource, BASE};

#[test]
fn metadata_behind_a_trait_object_or_an_arc_answers_as_the_store() {
    let shared: Arc<dyn DynMetadataRepo> = Arc::new(InMemoryMetadata::seed());
    check_metadata(&*shared);
    // An `Arc` of a store is a store too.
    check_metadata(&Arc::new(InMemoryMetadata::seed()));
}

/// Every lookup of `dynamic` against the seed store's own.
fn check_metadata(dynamic: &(impl MetadataRepo + ?Sized)) {
    let catalogue = Catalogue::seed();
    let store = InMemoryMetadata::seed();
    block_on(async {
        for circuit in &catalogue.circuits {
            assert_eq!(
                dynamic.circuit(circuit.id).await,
                store.circuit(circuit.id).await
            );
        }
        for sensor in &catalogue.sensors {
            assert_eq!(
                dynamic.sensor(sensor.id).await,
                store.sensor(sensor.id).await
            );
        }
        for location in &catalogue.locations {
            assert_eq!(
                dynamic.location(location.id).await,
                store.location(location.id).await
            );
        }
        for organization in &catalogue.organizations {
            let id = organization.id;
            assert_eq!(dynamic.organization(id).await, store.organization(id).await);
        }
        for brand in &catalogue.brands {
            assert_eq!(dynamic.brand(brand.id).await, store.brand(brand.id).await);
        }
        assert_eq!(dynamic.brands().await, store.brands().await);
        assert_eq!(dynamic.circuit_series().await, store.circuit_series().await);
        // Lookups that find something, so equal answers are not equal absences.
        assert!(dynamic
            .circuit(catalogue.circuits[0].id)
            .await
            .unwrap()
            .is_some());
        assert_eq!(dynamic.brands().await.unwrap().len(), 1);
        assert_eq!(dynamic.circuit_series().await.unwrap().len(), 36);
    });
}

/// Samples of two series: one every 90 s for two hours, and a few on the other.
fn samples() -> HashMap<SeriesKey, Vec<(i64, f64)>> {
    let keys = block_on(InMemoryMetadata::seed().circuit_series()).unwrap();
    HashMap::from([
        (
            keys[0].clone(),
            (0..80).map(|step| (step * 90, (step % 7) as f64)).collect(),
        ),
        (keys[1].clone(), vec![(30, 5.0), (4000, -2.0), (7000, 9.0)]),
    ])
}

#[test]
fn a_source_behind_a_trait_object_or_an_arc_answers_as_the_source() {
    let shared: Arc<dyn DynTimeSeriesSource> = Arc::new(ScanSource(samples()));
    check_source(&*shared);
    // An `Arc` of a source is a source too.
    check_source(&Arc::new(ScanSource(samples())));
}

/// Every answer of `dynamic`, which holds [`samples`], against a plain source's.
fn check_source(dynamic: &(impl TimeSeriesSource + ?Sized)) {
    let keys = block_on(InMemoryMetadata::seed().circuit_series()).unwrap();
    let keys = &keys[..3];
    let source = ScanSource(samples());
    let window = Window::new(BASE, BASE + Duration::hours(2), DEFAULT_MAX_WINDOW).unwrap();
    let edges: Vec<_> = (0..5).map(|k| BASE + Duration::minutes(25 * k)).collect();
    block_on(async {
        let extent = dynamic.extent(keys).await;
        assert_eq!(extent, source.extent(keys).await);
        assert!(extent.unwrap().is_some());
        let stats = dynamic.window_stats(keys, &window).await;
        assert_eq!(stats, source.window_stats(keys, &window).await);
        assert_eq!(stats.unwrap()[0].n_samples(), 80);
        let ranges = dynamic.range_stats(keys, &edges).await;
        assert_eq!(ranges, source.range_stats(keys, &edges).await);
        assert_eq!(ranges.unwrap()[0].len(), 4);
        let combined = dynamic.combined_range_stats(keys, &edges).await;
        assert_eq!(combined, source.combined_range_stats(keys, &edges).await);
        assert_eq!(
            combined
                .unwrap()
                .iter()
                .map(|stats| stats.n_samples())
                .sum::<u64>(),
            67 + 2
        );
    });
}
