//! A [`MetadataRepo`] held in memory: the embedded default store, and a test double for library users.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalogue::Catalogue;
use crate::ids::{BrandId, CircuitId, LocationId, OrganizationId, SensorId, SeriesKey};
use crate::model::{
    BrandTree, CircuitContext, LocationSummary, LocationTree, OrganizationNode, OrganizationTree,
    SensorDetail, SensorWithCircuits,
};
use crate::ports::{MetadataError, MetadataRepo};

/// Every lookup precomputed from a [`Catalogue`], so that answering is one hash lookup.
#[derive(Clone, Debug, Default)]
pub struct InMemoryMetadata {
    circuits: HashMap<CircuitId, Arc<CircuitContext>>,
    organizations: HashMap<OrganizationId, Arc<OrganizationTree>>,
    sensors: HashMap<SensorId, Arc<SensorDetail>>,
    locations: HashMap<LocationId, Arc<LocationSummary>>,
    brands: HashMap<BrandId, Arc<BrandTree>>,
    circuit_series: Vec<SeriesKey>,
}

impl InMemoryMetadata {
    /// The store over the seed catalogue embedded in the crate.
    pub fn seed() -> InMemoryMetadata {
        InMemoryMetadata::new(&Catalogue::seed())
    }

    /// Builds the store over a catalogue, which [`Catalogue::parse_tsv`] has checked.
    pub fn new(catalogue: &Catalogue) -> InMemoryMetadata {
        let brands: HashMap<_, _> = catalogue
            .brands
            .iter()
            .map(|brand| (brand.id, brand))
            .collect();
        let organizations: HashMap<_, _> = catalogue
            .organizations
            .iter()
            .map(|organization| (organization.id, organization))
            .collect();
        let locations: HashMap<_, _> = catalogue
            .locations
            .iter()
            .map(|location| (location.id, location))
            .collect();
        let sensors: HashMap<_, _> = catalogue
            .sensors
            .iter()
            .map(|sensor| (sensor.id, sensor))
            .collect();

        let mut circuits_of: HashMap<SensorId, Vec<_>> = HashMap::new();
        for circuit in &catalogue.circuits {
            circuits_of
                .entry(circuit.sensor_id)
                .or_default()
                .push(circuit.clone());
        }
        let sensor_trees: HashMap<SensorId, SensorWithCircuits> = catalogue
            .sensors
            .iter()
            .map(|sensor| {
                let mut circuits = circuits_of.remove(&sensor.id).unwrap_or_default();
                circuits.sort_by_key(|circuit| circuit.circuit_number);
                (
                    sensor.id,
                    SensorWithCircuits {
                        sensor: sensor.clone(),
                        circuits,
                    },
                )
            })
            .collect();

        let mut sensors_of: HashMap<LocationId, Vec<SensorWithCircuits>> = HashMap::new();
        for sensor in &catalogue.sensors {
            sensors_of
                .entry(sensor.location_id)
                .or_default()
                .push(sensor_trees[&sensor.id].clone());
        }
        let location_trees: HashMap<LocationId, LocationTree> = catalogue
            .locations
            .iter()
            .map(|location| {
                let mut sensors = sensors_of.remove(&location.id).unwrap_or_default();
                sensors.sort_by(|a, b| {
                    (&a.sensor.name, a.sensor.id).cmp(&(&b.sensor.name, b.sensor.id))
                });
                (
                    location.id,
                    LocationTree {
                        location: location.clone(),
                        sensors,
                    },
                )
            })
            .collect();

        let mut locations_of: HashMap<OrganizationId, Vec<LocationTree>> = HashMap::new();
        for location in &catalogue.locations {
            locations_of
                .entry(location.organization_id)
                .or_default()
                .push(location_trees[&location.id].clone());
        }
        for trees in locations_of.values_mut() {
            trees.sort_by(|a, b| {
                (&a.location.name, a.location.id).cmp(&(&b.location.name, b.location.id))
            });
        }

        let organization_trees: HashMap<OrganizationId, Arc<OrganizationTree>> = catalogue
            .organizations
            .iter()
            .map(|organization| {
                let tree = OrganizationTree {
                    organization: organization.clone(),
                    brand: brands[&organization.brand_id].clone(),
                    locations: locations_of
                        .get(&organization.id)
                        .cloned()
                        .unwrap_or_default(),
                };
                (organization.id, Arc::new(tree))
            })
            .collect();

        let mut organizations_of: HashMap<BrandId, Vec<OrganizationNode>> = HashMap::new();
        for organization in &catalogue.organizations {
            let tree = &organization_trees[&organization.id];
            organizations_of
                .entry(organization.brand_id)
                .or_default()
                .push(OrganizationNode {
                    organization: organization.clone(),
                    locations: tree.locations.clone(),
                });
        }
        let brand_trees = catalogue
            .brands
            .iter()
            .map(|brand| {
                let mut organizations = organizations_of.remove(&brand.id).unwrap_or_default();
                organizations.sort_by(|a, b| {
                    (&a.organization.name, a.organization.id)
                        .cmp(&(&b.organization.name, b.organization.id))
                });
                (
                    brand.id,
                    Arc::new(BrandTree {
                        brand: brand.clone(),
                        organizations,
                    }),
                )
            })
            .collect();

        let circuit_contexts = catalogue
            .circuits
            .iter()
            .map(|circuit| {
                let sensor = sensors[&circuit.sensor_id];
                let location = locations[&sensor.location_id];
                let organization = organizations[&location.organization_id];
                let context = CircuitContext {
                    circuit: circuit.clone(),
                    sensor: sensor.clone(),
                    location: location.clone(),
                    organization: organization.clone(),
                };
                (circuit.id, Arc::new(context))
            })
            .collect();

        let sensor_details = sensor_trees
            .into_values()
            .map(|tree| {
                let location = locations[&tree.sensor.location_id].clone();
                (
                    tree.sensor.id,
                    Arc::new(SensorDetail {
                        sensor: tree,
                        location,
                    }),
                )
            })
            .collect();

        let location_summaries = location_trees
            .into_values()
            .map(|tree| {
                let organization = organizations[&tree.location.organization_id].clone();
                (
                    tree.location.id,
                    Arc::new(LocationSummary { tree, organization }),
                )
            })
            .collect();

        let circuit_series = catalogue
            .circuits
            .iter()
            .map(|circuit| SeriesKey {
                duid: sensors[&circuit.sensor_id].duid.clone(),
                circuit_number: circuit.circuit_number,
            })
            .collect();

        InMemoryMetadata {
            circuits: circuit_contexts,
            organizations: organization_trees,
            sensors: sensor_details,
            locations: location_summaries,
            brands: brand_trees,
            circuit_series,
        }
    }
}

impl MetadataRepo for InMemoryMetadata {
    async fn circuit(&self, id: CircuitId) -> Result<Option<Arc<CircuitContext>>, MetadataError> {
        Ok(self.circuits.get(&id).cloned())
    }

    async fn organization(
        &self,
        id: OrganizationId,
    ) -> Result<Option<Arc<OrganizationTree>>, MetadataError> {
        Ok(self.organizations.get(&id).cloned())
    }

    async fn sensor(&self, id: SensorId) -> Result<Option<Arc<SensorDetail>>, MetadataError> {
        Ok(self.sensors.get(&id).cloned())
    }

    async fn location(
        &self,
        id: LocationId,
    ) -> Result<Option<Arc<LocationSummary>>, MetadataError> {
        Ok(self.locations.get(&id).cloned())
    }

    async fn brand(&self, id: BrandId) -> Result<Option<Arc<BrandTree>>, MetadataError> {
        Ok(self.brands.get(&id).cloned())
    }

    async fn circuit_series(&self) -> Result<Vec<SeriesKey>, MetadataError> {
        Ok(self.circuit_series.clone())
    }
}
