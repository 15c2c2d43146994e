//! The circuits of a roll-up, each with its series, the part it belongs to and its names;
//! and what makes an entity rollable ([`Rollable`]): every level of the hierarchy is.

use crate::ids::SeriesKey;
use crate::model::{
    BrandTree, Circuit, CircuitContext, ElectricSensor, Location, LocationSummary, LocationTree,
    OrganizationTree, SensorDetail,
};

use super::request::UsageRequestBuilder;
use super::scope::{EntityRef, Scope};

/// The most series in one call to the source: `window_stats` and `extent` take the series this
/// many at a time, and each block of a range call is at most this many series wide.
pub(super) const SERIES_PER_CALL: usize = 256;

/// One circuit in a roll-up: its series, the part it belongs to, and its names. (Public in
/// this private module, so that [`Rollable`] may name it and no one outside may.)
pub struct Member<'a> {
    /// The index of its part in the roll-up's list of part ids ([`EntityRef`]s): a position
    /// the core uses only while summing, beside the ids it was built with.
    pub(super) part: usize,
    pub(super) circuit: &'a Circuit,
    pub(super) sensor: &'a ElectricSensor,
    pub(super) location: &'a Location,
}

impl Member<'_> {
    /// Its series: its sensor's device id and its number. Made when asked, not kept, since a
    /// roll-up copies them once, into the list the source is asked for.
    pub(super) fn key(&self) -> SeriesKey {
        SeriesKey {
            duid: self.sensor.duid.clone(),
            circuit_number: self.circuit.circuit_number,
        }
    }
}

/// An entity whose usage the core sums, broken down into its parts, its children in the
/// hierarchy: a brand by organization, an organization by location, a location by sensor, a
/// sensor by circuit; a circuit has no parts. Implemented for each of those and nothing else
/// (outside this crate, [`Rollable::members`] cannot be written).
pub trait Rollable: Send + Sync + 'static {
    /// How many circuits it has: what sizes a usage request's work.
    fn circuit_count(&self) -> usize;

    /// Nothing when `scope` may see it; else the entity, by kind and id, for the `NotFound`
    /// an unknown id gets.
    fn seen_by(&self, scope: &Scope) -> Result<(), EntityRef>;

    /// Its circuits, each with the index of its part, and the parts' ids.
    #[doc(hidden)]
    fn members(&self) -> (Vec<Member<'_>>, Vec<EntityRef>);
}

impl UsageRequestBuilder {
    /// About how much work the request is over `entity`, in figures: its circuits ×
    /// [`UsageRequestBuilder::estimated_ranges`]. What a caller decides by, before building
    /// or running the request, whether it is light enough to answer at once.
    pub fn work_on(&self, entity: &impl Rollable) -> usize {
        entity
            .circuit_count()
            .saturating_mul(self.estimated_ranges())
    }
}

impl Rollable for CircuitContext {
    fn seen_by(&self, scope: &Scope) -> Result<(), EntityRef> {
        seen(scope.admits(&self.organization), self.circuit.id.into())
    }

    fn circuit_count(&self) -> usize {
        1
    }

    fn members(&self) -> (Vec<Member<'_>>, Vec<EntityRef>) {
        let member = Member {
            part: 0,
            circuit: &self.circuit,
            sensor: &self.sensor,
            location: &self.location,
        };
        // A circuit has no parts; its one member's part index points at none.
        (vec![member], Vec::new())
    }
}

impl Rollable for SensorDetail {
    fn seen_by(&self, scope: &Scope) -> Result<(), EntityRef> {
        let id = self.sensor.sensor.id;
        seen(scope.admits(&self.organization), id.into())
    }

    fn circuit_count(&self) -> usize {
        self.sensor.circuits.len()
    }

    fn members(&self) -> (Vec<Member<'_>>, Vec<EntityRef>) {
        let sensor = &self.sensor;
        let members = sensor
            .circuits
            .iter()
            .enumerate()
            .map(|(index, circuit)| Member {
                part: index,
                circuit,
                sensor: &sensor.sensor,
                location: &self.location,
            })
            .collect();
        let parts = sensor
            .circuits
            .iter()
            .map(|circuit| circuit.id.into())
            .collect();
        (members, parts)
    }
}

impl Rollable for LocationSummary {
    fn seen_by(&self, scope: &Scope) -> Result<(), EntityRef> {
        let id = self.tree.location.id;
        seen(scope.admits(&self.organization), id.into())
    }

    fn circuit_count(&self) -> usize {
        self.tree.circuit_count()
    }

    fn members(&self) -> (Vec<Member<'_>>, Vec<EntityRef>) {
        let members = members_of(&self.tree, |sensor_index| sensor_index).collect();
        let parts = self
            .tree
            .sensors
            .iter()
            .map(|sensor| sensor.sensor.id.into())
            .collect();
        (members, parts)
    }
}

impl Rollable for OrganizationTree {
    fn seen_by(&self, scope: &Scope) -> Result<(), EntityRef> {
        let id = self.organization.id;
        seen(scope.admits(&self.organization), id.into())
    }

    fn circuit_count(&self) -> usize {
        self.locations.iter().map(LocationTree::circuit_count).sum()
    }

    fn members(&self) -> (Vec<Member<'_>>, Vec<EntityRef>) {
        let parts = self.locations.iter().map(|location| location.location.id);
        let locations = self.locations.iter().enumerate();
        (by_part(locations), parts.map(EntityRef::from).collect())
    }
}

impl Rollable for BrandTree {
    fn seen_by(&self, scope: &Scope) -> Result<(), EntityRef> {
        seen(scope.admits_brand(self.brand.id), self.brand.id.into())
    }

    fn circuit_count(&self) -> usize {
        let locations = self.organizations.iter().flat_map(|node| &node.locations);
        locations.map(LocationTree::circuit_count).sum()
    }

    fn members(&self) -> (Vec<Member<'_>>, Vec<EntityRef>) {
        let parts = self.organizations.iter().map(|node| node.organization.id);
        let locations = self
            .organizations
            .iter()
            .enumerate()
            .flat_map(|(part, node)| node.locations.iter().map(move |location| (part, location)));
        (by_part(locations), parts.map(EntityRef::from).collect())
    }
}

/// `Ok` when `admitted`, else the entity.
fn seen(admitted: bool, entity: EntityRef) -> Result<(), EntityRef> {
    if admitted {
        Ok(())
    } else {
        Err(entity)
    }
}

/// The circuits of locations, each location's all in the part given with it.
fn by_part<'a>(locations: impl Iterator<Item = (usize, &'a LocationTree)>) -> Vec<Member<'a>> {
    locations
        .flat_map(|(part, location)| members_of(location, move |_| part))
        .collect()
}

fn members_of<'a>(
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
