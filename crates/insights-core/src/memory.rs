//! A [`MetadataRepo`] held in memory: the embedded default store, and a test double for library users.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalogue::Catalogue;
use crate::ids::{BrandId, CircuitId, LocationId, OrganizationId, SensorId, SeriesKey};
use crate::model::{
    Brand, BrandTree, CircuitContext, LocationSummary, LocationTree, OrganizationNode,
    OrganizationTree, SensorDetail, SensorWithCircuits,
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

    /// Builds the store over a catalogue.
    ///
    /// A catalogue from [`Catalogue::parse_tsv`] is complete. In one built otherwise, an entity
    /// whose parent is missing is left out of the lookups that would need that parent.
    pub fn new(catalogue: &Catalogue) -> InMemoryMetadata {
        let brands: HashMap<_, _> = catalogue
            .brands
            .iter()
            .map(|brand| (brand.id, brand))
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
        let mut sensors_of: HashMap<LocationId, Vec<SensorWithCircuits>> = HashMap::new();
        for sensor in &catalogue.sensors {
            let mut circuits = circuits_of.remove(&sensor.id).unwrap_or_default();
            circuits.sort_by_key(|circuit| circuit.circuit_number);
            sensors_of
                .entry(sensor.location_id)
                .or_default()
                .push(SensorWithCircuits {
                    sensor: sensor.clone(),
                    circuits,
                });
        }
        let mut locations_of: HashMap<OrganizationId, Vec<LocationTree>> = HashMap::new();
        for location in &catalogue.locations {
            let mut sensors = sensors_of.remove(&location.id).unwrap_or_default();
            sensors
                .sort_by(|a, b| (&a.sensor.name, a.sensor.id).cmp(&(&b.sensor.name, b.sensor.id)));
            locations_of
                .entry(location.organization_id)
                .or_default()
                .push(LocationTree {
                    location: location.clone(),
                    sensors,
                });
        }
        for trees in locations_of.values_mut() {
            trees.sort_by(|a, b| {
                (&a.location.name, a.location.id).cmp(&(&b.location.name, b.location.id))
            });
        }

        let mut store = InMemoryMetadata::default();
        let mut organizations_of: HashMap<BrandId, Vec<OrganizationNode>> = HashMap::new();
        for organization in &catalogue.organizations {
            let Some(brand) = brands.get(&organization.brand_id) else {
                continue;
            };
            let trees = locations_of
                .get(&organization.id)
                .cloned()
                .unwrap_or_default();
            for tree in &trees {
                for sensor in &tree.sensors {
                    let detail = SensorDetail {
                        sensor: sensor.clone(),
                        location: tree.location.clone(),
                        organization: organization.clone(),
                    };
                    store.sensors.insert(sensor.sensor.id, Arc::new(detail));
                    for circuit in &sensor.circuits {
                        let context = CircuitContext {
                            circuit: circuit.clone(),
                            sensor: sensor.sensor.clone(),
                            location: tree.location.clone(),
                            organization: organization.clone(),
                        };
                        store.circuits.insert(circuit.id, Arc::new(context));
                    }
                }
                let summary = LocationSummary {
                    tree: tree.clone(),
                    organization: organization.clone(),
                };
                store.locations.insert(tree.location.id, Arc::new(summary));
            }
            organizations_of
                .entry(brand.id)
                .or_default()
                .push(OrganizationNode {
                    organization: organization.clone(),
                    locations: trees.clone(),
                });
            let tree = OrganizationTree {
                organization: organization.clone(),
                brand: (*brand).clone(),
                locations: trees,
            };
            store.organizations.insert(organization.id, Arc::new(tree));
        }
        for brand in &catalogue.brands {
            let mut organizations = organizations_of.remove(&brand.id).unwrap_or_default();
            organizations.sort_by(|a, b| {
                (&a.organization.name, a.organization.id)
                    .cmp(&(&b.organization.name, b.organization.id))
            });
            let tree = BrandTree {
                brand: brand.clone(),
                organizations,
            };
            store.brands.insert(brand.id, Arc::new(tree));
        }
        store.circuit_series = catalogue
            .circuits
            .iter()
            .filter_map(|circuit| {
                Some(SeriesKey {
                    duid: sensors.get(&circuit.sensor_id)?.duid.clone(),
                    circuit_number: circuit.circuit_number,
                })
            })
            .collect();
        store
    }
}

impl InMemoryMetadata {
    /// A circuit with its ancestry, answered at once.
    pub fn find_circuit(&self, id: CircuitId) -> Option<Arc<CircuitContext>> {
        self.circuits.get(&id).cloned()
    }

    /// An organization's tree, answered at once.
    pub fn find_organization(&self, id: OrganizationId) -> Option<Arc<OrganizationTree>> {
        self.organizations.get(&id).cloned()
    }

    /// A sensor with its location and circuits, answered at once.
    pub fn find_sensor(&self, id: SensorId) -> Option<Arc<SensorDetail>> {
        self.sensors.get(&id).cloned()
    }

    /// A location's summary, answered at once.
    pub fn find_location(&self, id: LocationId) -> Option<Arc<LocationSummary>> {
        self.locations.get(&id).cloned()
    }

    /// A brand's tree, answered at once.
    pub fn find_brand(&self, id: BrandId) -> Option<Arc<BrandTree>> {
        self.brands.get(&id).cloned()
    }
}

impl MetadataRepo for InMemoryMetadata {
    async fn circuit(&self, id: CircuitId) -> Result<Option<Arc<CircuitContext>>, MetadataError> {
        Ok(self.find_circuit(id))
    }

    async fn organization(
        &self,
        id: OrganizationId,
    ) -> Result<Option<Arc<OrganizationTree>>, MetadataError> {
        Ok(self.find_organization(id))
    }

    async fn sensor(&self, id: SensorId) -> Result<Option<Arc<SensorDetail>>, MetadataError> {
        Ok(self.find_sensor(id))
    }

    async fn location(
        &self,
        id: LocationId,
    ) -> Result<Option<Arc<LocationSummary>>, MetadataError> {
        Ok(self.find_location(id))
    }

    async fn brand(&self, id: BrandId) -> Result<Option<Arc<BrandTree>>, MetadataError> {
        Ok(self.find_brand(id))
    }

    async fn circuit_series(&self) -> Result<Vec<SeriesKey>, MetadataError> {
        Ok(self.circuit_series.clone())
    }

    async fn brands(&self) -> Result<Vec<Brand>, MetadataError> {
        let mut brands: Vec<Brand> = self
            .brands
            .values()
            .map(|tree| tree.brand.clone())
            .collect();
        brands.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        Ok(brands)
    }
}
