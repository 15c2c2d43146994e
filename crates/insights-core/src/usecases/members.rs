//! The circuits of a roll-up, each with its series, the part it belongs to and its names.

use crate::ids::SeriesKey;
use crate::model::{BrandTree, Circuit, ElectricSensor, Location, LocationTree};

/// The most series in one call to the source: `window_stats` and `extent` take the series this
/// many at a time, and each block of a range call is at most this many series wide.
pub(super) const SERIES_PER_CALL: usize = 256;

/// One circuit in a roll-up: its series, the part it belongs to, and its names.
pub(super) struct Member<'a> {
    pub(super) key: SeriesKey,
    /// The index of its part in the roll-up's list of part ids ([`EntityRef`](super::EntityRef)s): a position the core uses
    /// only while summing, beside the ids it was built with.
    pub(super) part: usize,
    pub(super) circuit: &'a Circuit,
    pub(super) sensor: &'a ElectricSensor,
    pub(super) location: &'a Location,
}

pub(super) fn members_of<'a>(
    location: &'a LocationTree,
    part: impl Fn(usize) -> usize + 'a,
) -> impl Iterator<Item = Member<'a>> + 'a {
    location
        .sensors
        .iter()
        .enumerate()
        .flat_map(move |(sensor_index, sensor)| {
            let part = part(sensor_index);
            sensor.circuits.iter().map(move |circuit| Member {
                key: SeriesKey {
                    duid: sensor.sensor.duid.clone(),
                    circuit_number: circuit.circuit_number,
                },
                part,
                circuit,
                sensor: &sensor.sensor,
                location: &location.location,
            })
        })
}

/// The series of every circuit of a brand.
pub(super) fn brand_keys(tree: &BrandTree) -> Vec<SeriesKey> {
    tree.organizations
        .iter()
        .flat_map(|node| node.locations.iter().flat_map(LocationTree::series_keys))
        .collect()
}
