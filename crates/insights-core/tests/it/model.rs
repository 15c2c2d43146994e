//! The hierarchy's views count and key their circuits as the catalogue lists them.

use futures_executor::block_on;
use insights_core::{Catalogue, InMemoryMetadata, MetadataRepo, SeriesKey};

#[test]
fn a_location_counts_and_keys_the_circuits_of_its_sensors() {
    let catalogue = Catalogue::seed();
    let metadata = InMemoryMetadata::seed();
    let mut total = 0;
    for location in &catalogue.locations {
        let summary = block_on(metadata.location(location.id)).unwrap().unwrap();
        // The catalogue's own rows: the circuits of the sensors installed at the location.
        let mut expected: Vec<SeriesKey> = catalogue
            .sensors
            .iter()
            .filter(|sensor| sensor.location_id == location.id)
            .flat_map(|sensor| {
                catalogue
                    .circuits
                    .iter()
                    .filter(move |circuit| circuit.sensor_id == sensor.id)
                    .map(|circuit| SeriesKey {
                        duid: sensor.duid.clone(),
                        circuit_number: circuit.circuit_number,
                    })
            })
            .collect();
        let mut keys: Vec<SeriesKey> = summary.tree.series_keys().collect();
        assert_eq!(
            summary.tree.circuit_count(),
            expected.len(),
            "{}",
            location.name
        );
        // In the tree's order: sensors by name, circuits by number.
        let in_tree_order: Vec<SeriesKey> = summary
            .tree
            .sensors
            .iter()
            .flat_map(|sensor| sensor.series_keys())
            .collect();
        assert_eq!(keys, in_tree_order);
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected, "{}", location.name);
        total += expected.len();
    }
    assert_eq!(total, catalogue.circuits.len());
}
