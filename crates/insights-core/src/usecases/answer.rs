//! What the use cases answer: a usage [`Rollup`] and the entity it belongs to, and the
//! lookups' shapes.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::bucket::Bucket;
use crate::model::{
    Brand, BrandTree, Circuit, CircuitContext, ElectricSensor, Location, LocationSummary,
    LocationTree, Organization, OrganizationTree,
};
use crate::ports::Extent;
use crate::stats::Usage;
use crate::window::Window;

use super::request::Comparison;
use super::scope::EntityRef;

/// A brand with those of its organizations a scope may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisibleBrand {
    /// The brand.
    pub brand: Brand,
    /// Its organizations within the scope, sorted by name then id.
    pub organizations: Vec<VisibleOrganization>,
}

/// An organization and its locations, as a picker lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisibleOrganization {
    /// The organization.
    pub organization: Organization,
    /// Its locations, sorted by name then id.
    pub locations: Vec<Location>,
}

impl VisibleOrganization {
    pub(super) fn of(
        organization: &Organization,
        locations: &[LocationTree],
    ) -> VisibleOrganization {
        VisibleOrganization {
            organization: organization.clone(),
            locations: locations.iter().map(|tree| tree.location.clone()).collect(),
        }
    }
}

/// When an entity's circuits have data: what a client needs to pick a window with samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataRange {
    /// How many circuits the entity has.
    pub circuit_count: usize,
    /// The earliest and latest sample over those circuits; `None` when none has a sample.
    pub extent: Option<Extent>,
    /// The shortest nominal interval among those circuits' series with samples
    /// ([`crate::Extent::interval`]), or [`crate::FALLBACK_INTERVAL`] when none has samples.
    pub nominal_interval: Duration,
}

impl DataRange {
    /// Whether the data reaches the window's end: some sample lies at or after it, so the
    /// window closed before the latest sample and only a late sample can change its figures.
    pub fn reaches_end_of(&self, window: &Window) -> bool {
        self.extent
            .is_some_and(|extent| extent.last >= window.end())
    }
}

/// The highest average power over the whole demand intervals in a span.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PeakDemand {
    /// Energy in the interval divided by its length, summed over circuits.
    pub watts: f64,
    /// The interval's start.
    pub start: OffsetDateTime,
    /// The interval's end.
    pub end: OffsetDateTime,
}

/// What a usage object says of peak demand.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Peak {
    /// Demand intervals were not asked for.
    NotAsked,
    /// They were, and no whole one fits the span.
    NoWholeInterval,
    /// The highest average power over a whole demand interval of the span.
    Found(PeakDemand),
}

impl Peak {
    /// The peak, when one was found.
    pub fn found(self) -> Option<PeakDemand> {
        match self {
            Peak::Found(peak) => Some(peak),
            Peak::NotAsked | Peak::NoWholeInterval => None,
        }
    }
}

/// A usage object: the usage and what it says of peak demand.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    /// The usage.
    pub usage: Usage,
    /// The peak demand, or why there is none.
    pub peak_demand: Peak,
    /// The baseload, or why there is none: as a peak, but the *lowest* average power over a
    /// whole [`BASELOAD_INTERVAL`](super::BASELOAD_INTERVAL) of the span, among intervals
    /// with at least one sample (no samples says nothing of the power drawn, so it is not
    /// read as 0 W).
    pub baseload: Peak,
}

/// The usage of a group of circuits, with the per-circuit average.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupUsage {
    /// How many circuits the group has.
    pub circuit_count: usize,
    /// Their combined usage.
    pub figures: Figures,
    /// `usage.total_watts / circuit_count`, or `None` for a group without circuits.
    pub average_watts_per_circuit: Option<f64>,
}

/// One part's usage, with the id of the part it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartUsage {
    /// The part.
    pub id: EntityRef,
    /// Its circuits' usage.
    pub usage: GroupUsage,
}

/// One bucket's usage.
///
/// A bucket's identity is its index within the window's series: the comparison window's
/// bucket at the same index is its counterpart (the same place in the other window), and a
/// bucket past the other window's last has none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketUsage {
    /// The bucket, clipped to the window.
    pub bucket: Bucket,
    /// Its usage.
    pub figures: Figures,
}

/// A circuit among the top users, with what names it.
#[derive(Clone, Debug, PartialEq)]
pub struct RankedCircuit {
    /// The circuit; its id is the entry's identity, by which the comparison's entry for the
    /// same circuit is found.
    pub circuit: Circuit,
    /// Its sensor.
    pub sensor: ElectricSensor,
    /// Its location.
    pub location: Location,
    /// Its usage.
    pub figures: Figures,
}

/// The usage of an entity's circuits over a window, broken down into parts.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollup {
    /// The window.
    pub window: Window,
    /// All circuits together.
    pub total: GroupUsage,
    /// Each part (sensor, location or organization), each with its id. The order is the
    /// tree's, but carries no meaning: a part is found by its id.
    pub parts: Vec<PartUsage>,
    /// Each bucket of the whole, when buckets were asked for; a bucket is known by its index.
    pub series: Option<Vec<BucketUsage>>,
    /// The circuits with the highest totals, highest first, when asked for.
    pub top_circuits: Option<Vec<RankedCircuit>>,
    /// The same figures over the comparison window, when one was asked for: the same parts
    /// (by id), buckets in the same places (by index), and the same top circuits (by circuit
    /// id), whatever the comparison window's own ranking.
    pub comparison: Option<(Comparison, Box<Rollup>)>,
    /// Whether the source held a sample of these circuits at or after the window's end: the
    /// window is past for them, and only a late sample can change it. Asked of the source in
    /// the same call of the use case, just before the figures.
    pub settled: bool,
}

/// The usage of an entity's circuits, and the entity as the use case found it: a circuit's
/// context, a location's summary, an organization's or a brand's tree. One shape for every
/// usage answer, so a new roll-up needs no answer type of its own.
#[derive(Clone, Debug, PartialEq)]
pub struct EntityUsage<T> {
    /// The entity and what it belongs to and holds, within the caller's scope.
    pub entity: Arc<T>,
    /// Its usage; the parts are the entity's children, if it has any.
    pub rollup: Rollup,
}

/// A circuit's usage; it has no parts.
pub type CircuitUsage = EntityUsage<CircuitContext>;

/// A location's usage, by sensor.
pub type LocationUsage = EntityUsage<LocationSummary>;

/// An organization's usage, by location.
pub type OrganizationUsage = EntityUsage<OrganizationTree>;

/// A brand's usage, by organization.
pub type BrandUsage = EntityUsage<BrandTree>;
