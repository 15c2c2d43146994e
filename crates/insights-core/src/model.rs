//! Metadata entities and the views of the hierarchy that the metadata port returns.
//!
//! Children in every view are already in contract order: circuits by `circuit_number`,
//! everything else by name in code-point order, then by id.

use crate::ids::{BrandId, CircuitId, Duid, LocationId, OrganizationId, SensorId, SeriesKey};

/// A brand, the root of the hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Brand {
    /// Its id.
    pub id: BrandId,
    /// Its display name.
    pub name: String,
}

/// An organization (franchise) of a brand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organization {
    /// Its id.
    pub id: OrganizationId,
    /// Its display name.
    pub name: String,
    /// The brand it belongs to.
    pub brand_id: BrandId,
}

/// A location (site) of an organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Its id.
    pub id: LocationId,
    /// Its display name.
    pub name: String,
    /// The organization it belongs to.
    pub organization_id: OrganizationId,
}

/// An electric sensor (panel) at a location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectricSensor {
    /// Its id.
    pub id: SensorId,
    /// The device id that its time series carry.
    pub duid: Duid,
    /// Its display name.
    pub name: String,
    /// The location it is installed at.
    pub location_id: LocationId,
}

/// One circuit of an electric sensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Circuit {
    /// Its id.
    pub id: CircuitId,
    /// Its display name.
    pub name: String,
    /// Its number on the sensor, from 1.
    pub circuit_number: u32,
    /// The sensor that measures it.
    pub sensor_id: SensorId,
}

/// A sensor with all of its circuits, sorted by `circuit_number`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensorWithCircuits {
    /// The sensor.
    pub sensor: ElectricSensor,
    /// Its circuits.
    pub circuits: Vec<Circuit>,
}

impl SensorWithCircuits {
    /// The series keys of the sensor's circuits, in circuit order.
    pub fn series_keys(&self) -> impl Iterator<Item = SeriesKey> + '_ {
        self.circuits.iter().map(|circuit| SeriesKey {
            duid: self.sensor.duid.clone(),
            circuit_number: circuit.circuit_number,
        })
    }
}

/// A location with its sensors and their circuits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocationTree {
    /// The location.
    pub location: Location,
    /// Its sensors, sorted by name then id.
    pub sensors: Vec<SensorWithCircuits>,
}

impl LocationTree {
    /// How many circuits the location has across all its sensors.
    pub fn circuit_count(&self) -> usize {
        self.sensors
            .iter()
            .map(|sensor| sensor.circuits.len())
            .sum()
    }

    /// The series keys of every circuit at the location.
    pub fn series_keys(&self) -> impl Iterator<Item = SeriesKey> + '_ {
        self.sensors
            .iter()
            .flat_map(SensorWithCircuits::series_keys)
    }
}

/// A circuit with everything above it that a usage answer names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CircuitContext {
    /// The circuit.
    pub circuit: Circuit,
    /// The sensor that measures it.
    pub sensor: ElectricSensor,
    /// The location of that sensor.
    pub location: Location,
    /// The organization that owns the location.
    pub organization: Organization,
}

impl CircuitContext {
    /// The key of the circuit's power series.
    pub fn series_key(&self) -> SeriesKey {
        SeriesKey {
            duid: self.sensor.duid.clone(),
            circuit_number: self.circuit.circuit_number,
        }
    }
}

/// An organization with its brand and its whole subtree down to circuits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationTree {
    /// The organization.
    pub organization: Organization,
    /// The brand it belongs to.
    pub brand: Brand,
    /// Every location of the organization, including those without sensors, sorted by name then id.
    pub locations: Vec<LocationTree>,
}

/// A sensor with its location and circuits, as the monolith's sensor endpoint shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensorDetail {
    /// The sensor and its circuits.
    pub sensor: SensorWithCircuits,
    /// The location the sensor is installed at.
    pub location: Location,
    /// The organization that owns the location.
    pub organization: Organization,
}

/// A location with its organization, sensors and circuits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocationSummary {
    /// The location and everything below it.
    pub tree: LocationTree,
    /// The organization that owns the location.
    pub organization: Organization,
}

/// One organization within a brand tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrganizationNode {
    /// The organization.
    pub organization: Organization,
    /// Its locations with their sensors and circuits, sorted by name then id.
    pub locations: Vec<LocationTree>,
}

/// A brand with every organization, location, sensor and circuit below it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrandTree {
    /// The brand.
    pub brand: Brand,
    /// Its organizations, sorted by name then id.
    pub organizations: Vec<OrganizationNode>,
}
