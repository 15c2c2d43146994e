//! The use cases: usage of a circuit, a location, an organization or a brand over a window
//! (optionally bucketed, with peak demand, baseload, top circuits and a comparison window),
//! the metadata lookups, data ranges, and the sizing of a usage request's work
//! ([`Insights::usage_work`]). Each takes the caller's [`Scope`].
//!
//! Every usage answer is a [`Rollup`]: the entity's circuits, grouped into parts (sensors,
//! locations or organizations), summed by the one roll-up the four share. It asks the
//! time-series source for each series over the window and, with buckets, all series over each
//! bucket; then, for peak demand and for the baseload, one more pass each over the intervals;
//! a comparison does it all again over the other window. Each pass is a series of calls, each
//! for at most `SERIES_PER_CALL` series and [`CELLS_PER_CALL`] figures.

use std::fmt;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::bucket::{
    buckets, demand_edges, Bucket, BucketWidth, DemandInterval, TooManyBuckets, Zone,
};
use crate::ids::{BrandId, CircuitId, LocationId, OrganizationId, SensorId, SeriesKey};
use crate::model::{
    Brand, BrandTree, Circuit, CircuitContext, ElectricSensor, Location, LocationSummary,
    LocationTree, Organization, OrganizationTree, SensorDetail,
};
use crate::ports::{Extent, MetadataError, MetadataRepo, TimeSeriesError, TimeSeriesSource};
use crate::stats::{SampleSum, Usage, UsageStats};
use crate::window::Window;

/// The most circuits `top` may ask for.
pub const MAX_TOP: usize = 100;

/// The most series in one call to the source: `window_stats` and `extent` take the series this
/// many at a time, and each block of a range call is at most this many series wide.
const SERIES_PER_CALL: usize = 256;

/// The entity a lookup did not find.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntityRef {
    /// A brand.
    Brand(BrandId),
    /// An organization.
    Organization(OrganizationId),
    /// A location.
    Location(LocationId),
    /// An electric sensor.
    Sensor(SensorId),
    /// A circuit.
    Circuit(CircuitId),
}

impl fmt::Display for EntityRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityRef::Brand(id) => write!(f, "brand {id}"),
            EntityRef::Organization(id) => write!(f, "organization {id}"),
            EntityRef::Location(id) => write!(f, "location {id}"),
            EntityRef::Sensor(id) => write!(f, "electric sensor {id}"),
            EntityRef::Circuit(id) => write!(f, "circuit {id}"),
        }
    }
}

/// Which part of a roll-up a share belongs to: a location's sensor, an organization's
/// location or a brand's organization. Each part carries it, so that whoever names the parts
/// finds each one's figures by id, never by its place in a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PartId {
    /// An electric sensor, a part of a location.
    Sensor(SensorId),
    /// A location, a part of an organization.
    Location(LocationId),
    /// An organization, a part of a brand.
    Organization(OrganizationId),
}

impl From<PartId> for EntityRef {
    fn from(part: PartId) -> EntityRef {
        match part {
            PartId::Sensor(id) => EntityRef::Sensor(id),
            PartId::Location(id) => EntityRef::Location(id),
            PartId::Organization(id) => EntityRef::Organization(id),
        }
    }
}

impl From<CircuitId> for EntityRef {
    fn from(id: CircuitId) -> EntityRef {
        EntityRef::Circuit(id)
    }
}

impl fmt::Display for PartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        EntityRef::from(*self).fmt(f)
    }
}

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
    fn of(organization: &Organization, locations: &[LocationTree]) -> VisibleOrganization {
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

/// Whose data a caller may see.
///
/// Every use case takes one. Anything outside it is answered exactly as an id that does not
/// exist, so a caller cannot even learn that another tenant's ids are real.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everything; what a service without API keys serves.
    All,
    /// One brand, its organizations and everything under them.
    Brand(BrandId),
    /// One organization and everything under it.
    Organization(OrganizationId),
}

impl Scope {
    /// Whether the scope covers the organization and everything under it.
    pub fn admits(&self, organization: &Organization) -> bool {
        match self {
            Scope::All => true,
            Scope::Brand(brand_id) => *brand_id == organization.brand_id,
            Scope::Organization(organization_id) => *organization_id == organization.id,
        }
    }

    /// Whether the scope covers the whole brand; an organization's scope never does.
    pub fn admits_brand(&self, brand_id: BrandId) -> bool {
        match self {
            Scope::All => true,
            Scope::Brand(scope_brand_id) => *scope_brand_id == brand_id,
            Scope::Organization(_) => false,
        }
    }

    /// Whether an organization id can be in scope at all, before looking it up.
    fn may_admit_organization(&self, organization_id: OrganizationId) -> bool {
        match self {
            Scope::Organization(scope_organization_id) => *scope_organization_id == organization_id,
            Scope::All | Scope::Brand(_) => true,
        }
    }
}

/// Why a use case could not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsightsError {
    /// No entity has the id asked for.
    NotFound(EntityRef),
    /// The metadata store failed.
    Metadata(MetadataError),
    /// The time-series source failed.
    TimeSeries(TimeSeriesError),
    /// The request would take more work than one answer may.
    TooMuchWork(TooMuchWork),
}

impl fmt::Display for InsightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsightsError::NotFound(entity) => write!(f, "{entity} does not exist"),
            InsightsError::Metadata(error) => error.fmt(f),
            InsightsError::TimeSeries(error) => error.fmt(f),
            InsightsError::TooMuchWork(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for InsightsError {}

impl From<MetadataError> for InsightsError {
    fn from(error: MetadataError) -> Self {
        InsightsError::Metadata(error)
    }
}

impl From<TimeSeriesError> for InsightsError {
    fn from(error: TimeSeriesError) -> Self {
        InsightsError::TimeSeries(error)
    }
}

/// Which other window a usage answer is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// The window of equal length just before: `[start - length, start)`.
    Previous,
    /// The same local dates and times a year earlier in the request's zone (UTC without
    /// one): 29 February becomes 28 February; a time in a clock change's gap becomes the
    /// gap's end, and one in an overlap the earlier instant.
    Year,
}

/// Why a usage request's options were rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageRequestError {
    /// The comparison window cannot be formed: it would begin before year 0000, or a year
    /// earlier the window's local times fall in one clock change and leave it empty.
    NoComparisonWindow(Comparison),
    /// A zone was given without a bucket width.
    ZoneWithoutBucket,
    /// The bucket width would make too many buckets.
    TooManyBuckets(TooManyBuckets),
    /// `top` is outside `1..=MAX_TOP`.
    TopOutOfRange(usize),
}

impl fmt::Display for UsageRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageRequestError::ZoneWithoutBucket => {
                f.write_str("a time zone applies only to buckets, and none were asked for")
            }
            UsageRequestError::TooManyBuckets(error) => error.fmt(f),
            UsageRequestError::TopOutOfRange(top) => {
                write!(f, "a ranking of {top} circuits is outside 1 to {MAX_TOP}")
            }
            UsageRequestError::NoComparisonWindow(kind) => {
                write!(f, "no {kind:?} window can be compared with this one")
            }
        }
    }
}

impl std::error::Error for UsageRequestError {}

/// Demand intervals: their length and the edges of the whole intervals inside the window.
#[derive(Clone, Debug, PartialEq)]
pub struct Demand {
    /// The interval length asked for.
    pub interval: DemandInterval,
    /// Consecutive edges bound the whole intervals that fit in the window.
    pub edges: Vec<OffsetDateTime>,
}

/// A validated usage request: the window and what to compute over it.
#[derive(Clone, Debug, PartialEq)]
pub struct UsageRequest {
    window: Window,
    buckets: Option<Vec<Bucket>>,
    demand: Option<Demand>,
    /// The whole [`BASELOAD_INTERVAL`]s whose lowest average power is the baseload.
    baseload: Option<Demand>,
    top: Option<usize>,
    /// The comparison asked for, and the same request over the other window.
    compare: Option<(Comparison, Box<UsageRequest>)>,
}

/// The interval the baseload is the lowest average power over: a quarter hour, aligned as
/// demand intervals are.
pub const BASELOAD_INTERVAL: DemandInterval = DemandInterval::ALL[1];

impl UsageRequest {
    /// Just the window's usage.
    pub fn window(window: Window) -> UsageRequest {
        UsageRequest {
            window,
            buckets: None,
            demand: None,
            baseload: None,
            top: None,
            compare: None,
        }
    }

    /// Checks the options together. Buckets and demand intervals align in `zone`, UTC by
    /// default; without buckets, demand intervals align in UTC.
    pub fn new(
        window: Window,
        bucket: Option<BucketWidth>,
        zone: Option<Zone>,
        demand_interval: Option<DemandInterval>,
        top: Option<usize>,
    ) -> Result<UsageRequest, UsageRequestError> {
        if zone.is_some() && bucket.is_none() {
            return Err(UsageRequestError::ZoneWithoutBucket);
        }
        if let Some(top) = top.filter(|top| !(1..=MAX_TOP).contains(top)) {
            return Err(UsageRequestError::TopOutOfRange(top));
        }
        let zone = zone.unwrap_or_else(Zone::utc);
        let buckets = bucket
            .map(|width| buckets(&window, width, zone))
            .transpose()
            .map_err(UsageRequestError::TooManyBuckets)?;
        let demand = demand_interval.map(|interval| Demand {
            interval,
            edges: demand_edges(&window, interval, zone),
        });
        Ok(UsageRequest {
            window,
            buckets,
            demand,
            baseload: None,
            top,
            compare: None,
        })
    }

    /// The window.
    pub fn window_bounds(&self) -> &Window {
        &self.window
    }

    /// A request over `window` whose options are added one by one and checked together by
    /// [`UsageRequestBuilder::build`], for callers that know them as values, not options.
    pub fn builder(window: Window) -> UsageRequestBuilder {
        UsageRequestBuilder {
            window,
            bucket: None,
            zone: None,
            demand_interval: None,
            baseload: false,
            top: None,
            compare: None,
        }
    }
}

/// A usage request's options, collected for [`UsageRequest::new`]'s checks.
#[derive(Clone, Debug)]
pub struct UsageRequestBuilder {
    window: Window,
    bucket: Option<BucketWidth>,
    zone: Option<Zone>,
    demand_interval: Option<DemandInterval>,
    baseload: bool,
    top: Option<usize>,
    compare: Option<Comparison>,
}

impl UsageRequestBuilder {
    /// Buckets of `width`, aligned in UTC unless a zone is given.
    #[must_use]
    pub fn bucket(mut self, width: BucketWidth) -> Self {
        self.bucket = Some(width);
        self
    }

    /// The zone buckets and demand intervals align in; it needs a bucket.
    #[must_use]
    pub fn zone(mut self, zone: Zone) -> Self {
        self.zone = Some(zone);
        self
    }

    /// Peak demand over whole intervals of this length.
    #[must_use]
    pub fn demand_interval(mut self, interval: DemandInterval) -> Self {
        self.demand_interval = Some(interval);
        self
    }

    /// The `count` circuits with the highest totals, 1 to [`MAX_TOP`].
    #[must_use]
    pub fn top(mut self, count: usize) -> Self {
        self.top = Some(count);
        self
    }

    /// The baseload: the lowest average power over whole [`BASELOAD_INTERVAL`]s with
    /// samples, aligned as demand intervals are.
    #[must_use]
    pub fn baseload(mut self) -> Self {
        self.baseload = true;
        self
    }

    /// Every figure also over another window ([`Comparison`]), with the same options.
    #[must_use]
    pub fn compare(mut self, kind: Comparison) -> Self {
        self.compare = Some(kind);
        self
    }

    /// Checks the options together, as [`UsageRequest::new`] does.
    pub fn build(self) -> Result<UsageRequest, UsageRequestError> {
        let Some(kind) = self.compare else {
            return self.build_one();
        };
        let window = self.window;
        let zone = self.zone.unwrap_or_else(Zone::utc);
        let bounds = match kind {
            Comparison::Previous => window
                .start()
                .checked_sub(window.end() - window.start())
                .map(|start| (start, window.start())),
            Comparison::Year => zone
                .year_earlier(window.start())
                .zip(zone.year_earlier(window.end())),
        };
        let other_window = bounds
            .and_then(|(start, end)| Window::new(start, end, time::Duration::MAX).ok())
            .ok_or(UsageRequestError::NoComparisonWindow(kind))?;
        // `build_one` ignores `compare`, so neither request compares again.
        let other = UsageRequestBuilder {
            window: other_window,
            ..self.clone()
        }
        .build_one()?;
        let mut request = self.build_one()?;
        request.compare = Some((kind, Box::new(other)));
        Ok(request)
    }

    /// About how many ranges (buckets, demand and baseload intervals, each window at least
    /// once) a series is summed over, from the window's length alone: what a caller can size
    /// a request by before building it, which for a year of 5-minute intervals takes
    /// milliseconds. Exact for whole buckets aligned with the window; the months of a
    /// calendar count as 28 days.
    pub fn estimated_ranges(&self) -> usize {
        let length = self.window.length_nanos();
        // Rounded up: a partial range is a range too.
        let count = |nanos: i128| {
            let nanos = nanos.max(1);
            usize::try_from((length + nanos - 1) / nanos).unwrap_or(usize::MAX)
        };
        let interval = |interval: DemandInterval| i128::from(interval.seconds()) * 1_000_000_000;
        let buckets = self
            .bucket
            .map_or(0, |width| count(width.shortest().whole_nanoseconds()));
        let demand = self.demand_interval.map_or(0, |i| count(interval(i)));
        let baseload = if self.baseload {
            count(interval(BASELOAD_INTERVAL))
        } else {
            0
        };
        let windows = if self.compare.is_some() { 2 } else { 1 };
        buckets
            .saturating_add(demand)
            .saturating_add(baseload)
            .max(1)
            .saturating_mul(windows)
    }

    /// Checks the options for this window alone; `compare` is [`UsageRequestBuilder::build`]'s.
    fn build_one(self) -> Result<UsageRequest, UsageRequestError> {
        let zone = self.zone;
        let mut request = UsageRequest::new(
            self.window,
            self.bucket,
            self.zone,
            self.demand_interval,
            self.top,
        )?;
        if self.baseload {
            request.baseload = Some(Demand {
                interval: BASELOAD_INTERVAL,
                edges: demand_edges(
                    &request.window,
                    BASELOAD_INTERVAL,
                    zone.unwrap_or_else(Zone::utc),
                ),
            });
        }
        Ok(request)
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
    /// whole [`BASELOAD_INTERVAL`] of the span, among intervals with at least one sample (no
    /// samples says nothing of the power drawn, so it is not read as 0 W).
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
    pub id: PartId,
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

/// A circuit's usage.
#[derive(Clone, Debug, PartialEq)]
pub struct CircuitUsage {
    /// The circuit and what it belongs to.
    pub context: Arc<CircuitContext>,
    /// Its usage; it has no parts.
    pub rollup: Rollup,
}

/// A location's usage, by sensor.
#[derive(Clone, Debug, PartialEq)]
pub struct LocationUsage {
    /// The location, its organization, sensors and circuits.
    pub summary: Arc<LocationSummary>,
    /// Its usage; the parts are its sensors.
    pub rollup: Rollup,
}

/// An organization's usage, by location.
#[derive(Clone, Debug, PartialEq)]
pub struct OrganizationUsage {
    /// The organization, its brand and its subtree.
    pub tree: Arc<OrganizationTree>,
    /// How many locations it has, including those without circuits.
    pub location_count: usize,
    /// Its usage; the parts are its locations.
    pub rollup: Rollup,
}

/// A brand's usage, by organization.
#[derive(Clone, Debug, PartialEq)]
pub struct BrandUsage {
    /// The brand and its subtree.
    pub tree: Arc<BrandTree>,
    /// How many locations its organizations have.
    pub location_count: usize,
    /// Its usage; the parts are its organizations.
    pub rollup: Rollup,
}

/// One circuit in a roll-up: its series, the part it belongs to, and its names.
struct Member<'a> {
    key: SeriesKey,
    /// The index of its part in the roll-up's list of [`PartId`]s: a position the core uses
    /// only while summing, beside the ids it was built with.
    part: usize,
    circuit: &'a Circuit,
    sensor: &'a ElectricSensor,
    location: &'a Location,
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
fn brand_keys(tree: &BrandTree) -> Vec<SeriesKey> {
    tree.organizations
        .iter()
        .flat_map(|node| node.locations.iter().flat_map(LocationTree::series_keys))
        .collect()
}

/// The service's use cases over a metadata store and a time-series source.
///
/// The crate-level documentation shows how to plug the ports in.
#[derive(Clone, Debug)]
pub struct Insights<M, T> {
    metadata: M,
    timeseries: T,
}

impl<M: MetadataRepo, T: TimeSeriesSource> Insights<M, T> {
    /// Plugs the two ports together.
    pub fn new(metadata: M, timeseries: T) -> Self {
        Insights {
            metadata,
            timeseries,
        }
    }

    /// A circuit's usage.
    pub async fn circuit_usage(
        &self,
        scope: &Scope,
        id: CircuitId,
        request: &UsageRequest,
    ) -> Result<CircuitUsage, InsightsError> {
        let context = self
            .metadata
            .circuit(id)
            .await?
            .filter(|context| scope.admits(&context.organization))
            .ok_or(InsightsError::NotFound(EntityRef::Circuit(id)))?;
        let member = Member {
            key: context.series_key(),
            part: 0,
            circuit: &context.circuit,
            sensor: &context.sensor,
            location: &context.location,
        };
        // A circuit has no parts; its one member's part index points at none.
        let rollup = self.rollup(&[member], &[], request).await?;
        Ok(CircuitUsage { context, rollup })
    }

    /// A location's usage, with each sensor's share.
    pub async fn location_usage(
        &self,
        scope: &Scope,
        id: LocationId,
        request: &UsageRequest,
    ) -> Result<LocationUsage, InsightsError> {
        let summary = self.location_summary(scope, id).await?;
        let members: Vec<Member> = members_of(&summary.tree, |sensor_index| sensor_index).collect();
        let parts: Vec<PartId> = summary
            .tree
            .sensors
            .iter()
            .map(|sensor| PartId::Sensor(sensor.sensor.id))
            .collect();
        let rollup = self.rollup(&members, &parts, request).await?;
        Ok(LocationUsage { summary, rollup })
    }

    /// An organization's usage, with each location's share.
    pub async fn organization_usage(
        &self,
        scope: &Scope,
        id: OrganizationId,
        request: &UsageRequest,
    ) -> Result<OrganizationUsage, InsightsError> {
        let tree = self.organization_tree(scope, id).await?;
        let members: Vec<Member> = tree
            .locations
            .iter()
            .enumerate()
            .flat_map(|(location_index, location)| members_of(location, move |_| location_index))
            .collect();
        let parts: Vec<PartId> = tree
            .locations
            .iter()
            .map(|location| PartId::Location(location.location.id))
            .collect();
        let rollup = self.rollup(&members, &parts, request).await?;
        Ok(OrganizationUsage {
            location_count: tree.locations.len(),
            tree,
            rollup,
        })
    }

    /// A brand's usage, with each organization's share.
    pub async fn brand_usage(
        &self,
        scope: &Scope,
        id: BrandId,
        request: &UsageRequest,
    ) -> Result<BrandUsage, InsightsError> {
        let tree = self.brand_metadata(scope, id).await?;
        let members: Vec<Member> = tree
            .organizations
            .iter()
            .enumerate()
            .flat_map(|(organization_index, node)| {
                node.locations
                    .iter()
                    .flat_map(move |location| members_of(location, move |_| organization_index))
            })
            .collect();
        let parts: Vec<PartId> = tree
            .organizations
            .iter()
            .map(|node| PartId::Organization(node.organization.id))
            .collect();
        let rollup = self.rollup(&members, &parts, request).await?;
        Ok(BrandUsage {
            location_count: tree
                .organizations
                .iter()
                .map(|node| node.locations.len())
                .sum(),
            tree,
            rollup,
        })
    }

    /// An electric sensor with its location and circuits.
    pub async fn electric_sensor(
        &self,
        scope: &Scope,
        id: SensorId,
    ) -> Result<Arc<SensorDetail>, InsightsError> {
        self.metadata
            .sensor(id)
            .await?
            .filter(|detail| scope.admits(&detail.organization))
            .ok_or(InsightsError::NotFound(EntityRef::Sensor(id)))
    }

    /// A location with its organization, sensors and circuits.
    pub async fn location_summary(
        &self,
        scope: &Scope,
        id: LocationId,
    ) -> Result<Arc<LocationSummary>, InsightsError> {
        self.metadata
            .location(id)
            .await?
            .filter(|summary| scope.admits(&summary.organization))
            .ok_or(InsightsError::NotFound(EntityRef::Location(id)))
    }

    /// A brand with its organizations and locations.
    pub async fn brand_metadata(
        &self,
        scope: &Scope,
        id: BrandId,
    ) -> Result<Arc<BrandTree>, InsightsError> {
        let not_found = InsightsError::NotFound(EntityRef::Brand(id));
        if !scope.admits_brand(id) {
            return Err(not_found);
        }
        self.metadata.brand(id).await?.ok_or(not_found)
    }

    /// The brands the scope may see, each with the organizations of it the scope may see and
    /// their locations; sorted by name then id.
    pub async fn visible_brands(&self, scope: &Scope) -> Result<Vec<VisibleBrand>, InsightsError> {
        let brand_ids = match scope {
            Scope::All => self
                .metadata
                .brands()
                .await?
                .into_iter()
                .map(|brand| brand.id)
                .collect(),
            Scope::Brand(brand_id) => vec![*brand_id],
            Scope::Organization(organization_id) => {
                let Some(tree) = self.metadata.organization(*organization_id).await? else {
                    return Ok(Vec::new());
                };
                return Ok(vec![VisibleBrand {
                    brand: tree.brand.clone(),
                    organizations: vec![VisibleOrganization::of(
                        &tree.organization,
                        &tree.locations,
                    )],
                }]);
            }
        };
        let mut visible = Vec::with_capacity(brand_ids.len());
        for brand_id in brand_ids {
            // A brand deleted between the two reads is left out, as if listed a moment later.
            if let Some(tree) = self.metadata.brand(brand_id).await? {
                visible.push(VisibleBrand {
                    brand: tree.brand.clone(),
                    organizations: tree
                        .organizations
                        .iter()
                        .map(|node| VisibleOrganization::of(&node.organization, &node.locations))
                        .collect(),
                });
            }
        }
        Ok(visible)
    }

    /// When the entity's circuits have data, or, without an entity, every circuit the scope
    /// may see. The source answers from its index, whatever the data's length.
    pub async fn data_range(
        &self,
        scope: &Scope,
        entity: Option<EntityRef>,
    ) -> Result<DataRange, InsightsError> {
        let keys: Vec<SeriesKey> = match entity {
            Some(entity) => self.series_of(scope, entity).await?,
            None => match scope {
                Scope::All => self.metadata.circuit_series().await?,
                Scope::Brand(id) => match self.metadata.brand(*id).await? {
                    Some(tree) => brand_keys(&tree),
                    None => Vec::new(),
                },
                Scope::Organization(id) => {
                    self.organization_keys(scope, *id)
                        .await
                        .or_else(|error| match error {
                            InsightsError::NotFound(_) => Ok(Vec::new()),
                            other => Err(other),
                        })?
                }
            },
        };
        let extent = self.extent_of(&keys).await?;
        Ok(DataRange {
            circuit_count: keys.len(),
            extent,
            nominal_interval: extent.map_or(crate::FALLBACK_INTERVAL, |extent| extent.interval),
        })
    }

    /// The extent of the series' samples, asked of the source [`SERIES_PER_CALL`] series at
    /// a time.
    async fn extent_of(&self, keys: &[SeriesKey]) -> Result<Option<Extent>, InsightsError> {
        let mut extent: Option<Extent> = None;
        let mut turns = Turns::default();
        for chunk in keys.chunks(SERIES_PER_CALL) {
            turns.before_block().await;
            if let Some(found) = self.timeseries.extent(chunk).await? {
                extent = Some(extent.map_or(found, |known| known.merge(found)));
            }
        }
        Ok(extent)
    }

    /// Whether any of the series has a sample at or after `from`, asked of the source
    /// [`SERIES_PER_CALL`] series at a time until one says yes.
    async fn has_samples_from(
        &self,
        keys: &[SeriesKey],
        from: OffsetDateTime,
    ) -> Result<bool, InsightsError> {
        let mut turns = Turns::default();
        for chunk in keys.chunks(SERIES_PER_CALL) {
            turns.before_block().await;
            if self.timeseries.has_samples_from(chunk, from).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// About how much work a usage request for `entity` is, in figures (its circuits ×
    /// [`UsageRequestBuilder::estimated_ranges`]), if the scope may see the entity: what a
    /// caller can decide by, before building or running the request, whether it is light
    /// enough to answer at once.
    pub async fn usage_work(
        &self,
        scope: &Scope,
        entity: EntityRef,
        request: &UsageRequestBuilder,
    ) -> Result<usize, InsightsError> {
        let n_series = self.series_of(scope, entity).await?.len();
        Ok(n_series.saturating_mul(request.estimated_ranges()))
    }

    /// The series of the entity's circuits, if the scope may see it.
    async fn series_of(
        &self,
        scope: &Scope,
        entity: EntityRef,
    ) -> Result<Vec<SeriesKey>, InsightsError> {
        Ok(match entity {
            EntityRef::Circuit(id) => self
                .metadata
                .circuit(id)
                .await?
                .filter(|context| scope.admits(&context.organization))
                .map(|context| vec![context.series_key()])
                .ok_or(InsightsError::NotFound(EntityRef::Circuit(id)))?,
            EntityRef::Sensor(id) => self
                .electric_sensor(scope, id)
                .await?
                .sensor
                .series_keys()
                .collect(),
            EntityRef::Location(id) => self
                .location_summary(scope, id)
                .await?
                .tree
                .series_keys()
                .collect(),
            EntityRef::Organization(id) => self.organization_keys(scope, id).await?,
            EntityRef::Brand(id) => brand_keys(&*self.brand_metadata(scope, id).await?),
        })
    }

    /// The series of an organization's circuits, if the scope may see it.
    async fn organization_keys(
        &self,
        scope: &Scope,
        id: OrganizationId,
    ) -> Result<Vec<SeriesKey>, InsightsError> {
        let tree = self.organization_tree(scope, id).await?;
        Ok(tree
            .locations
            .iter()
            .flat_map(LocationTree::series_keys)
            .collect())
    }

    /// An organization with everything below it, if the scope may see it.
    async fn organization_tree(
        &self,
        scope: &Scope,
        id: OrganizationId,
    ) -> Result<Arc<OrganizationTree>, InsightsError> {
        let not_found = InsightsError::NotFound(EntityRef::Organization(id));
        if !scope.may_admit_organization(id) {
            return Err(not_found);
        }
        self.metadata
            .organization(id)
            .await?
            .filter(|tree| scope.admits(&tree.organization))
            .ok_or(not_found)
    }

    /// Sums the members' series over the request, by part (each member's `part` indexes
    /// `parts`), bucket and demand interval.
    ///
    /// Memory grows with the members, parts and buckets, never with demand intervals times
    /// circuits: the source is asked for at most [`CELLS_PER_CALL`] figures at a time, and
    /// peaks are folded in as each block of intervals is complete.
    async fn rollup(
        &self,
        members: &[Member<'_>],
        parts: &[PartId],
        request: &UsageRequest,
    ) -> Result<Rollup, InsightsError> {
        check_work(members.len(), request)?;
        let keys: Vec<SeriesKey> = members.iter().map(|member| member.key.clone()).collect();
        // Asked before the figures, not beside them: a source whose later reads see at least
        // what its earlier ones saw (any one database, or a replica as it replays) then has
        // every sample of the window that the figures could miss committed after the sample
        // that settled it, which makes them late samples, as they would be on the primary.
        let settled = self.has_samples_from(&keys, request.window.end()).await?;
        let (mut rollup, ranking) = self.rollup_once(members, parts, request, None).await?;
        rollup.settled = settled;
        if let Some((kind, other)) = &request.compare {
            // A comparison window ends before the request's: past whenever that one is.
            let settled = settled || self.has_samples_from(&keys, other.window.end()).await?;
            let (mut compared, _) = self.rollup_once(members, parts, other, ranking).await?;
            compared.settled = settled;
            rollup.comparison = Some((*kind, Box::new(compared)));
        }
        Ok(rollup)
    }

    /// One window's roll-up, and the ranking of its top circuits (member indices); with
    /// `ranking` given, those circuits are reported instead of this window's own top.
    async fn rollup_once(
        &self,
        members: &[Member<'_>],
        parts: &[PartId],
        request: &UsageRequest,
        ranking: Option<Vec<usize>>,
    ) -> Result<(Rollup, Option<Vec<usize>>), InsightsError> {
        let keys: Vec<SeriesKey> = members.iter().map(|member| member.key.clone()).collect();
        let totals = self.totals(&keys, request).await?;
        let top = match ranking {
            Some(ranking) => Some(ranking),
            None => request
                .top
                .map(|count| rank(members, &totals.series, count)),
        };
        let plan = |demand, pick| PeakPlan {
            members,
            n_parts: parts.len(),
            top: top.as_deref().unwrap_or_default(),
            buckets: request.buckets.as_deref().unwrap_or_default(),
            demand,
            pick,
        };
        let peaks = match &request.demand {
            None => None,
            Some(demand) => Some(self.peaks(&keys, &plan(demand, Pick::Highest)).await?),
        };
        let baseloads = match &request.baseload {
            None => None,
            Some(intervals) => Some(self.peaks(&keys, &plan(intervals, Pick::Lowest)).await?),
        };
        let rollup = assemble(
            members,
            parts,
            request,
            totals,
            top.clone(),
            [peaks, baseloads],
        );
        Ok((rollup, top))
    }

    /// Step 1: each series' total over the window and, with buckets, each bucket's total over
    /// all series.
    async fn totals(
        &self,
        keys: &[SeriesKey],
        request: &UsageRequest,
    ) -> Result<Totals, InsightsError> {
        let window = &request.window;
        let per_series = async {
            let mut series = Vec::with_capacity(keys.len());
            let mut turns = Turns::default();
            for chunk in keys.chunks(SERIES_PER_CALL) {
                turns.before_block().await;
                series.extend(self.timeseries.window_stats(chunk, window).await?);
            }
            Ok::<_, InsightsError>(series)
        };
        let Some(buckets) = &request.buckets else {
            return Ok(Totals {
                series: per_series.await?,
                buckets: None,
            });
        };
        let edges: Vec<OffsetDateTime> = buckets
            .iter()
            .map(|bucket| bucket.start)
            .chain(buckets.last().map(|bucket| bucket.end))
            .collect();
        // All series together in each bucket: a source that aggregates where the data lives
        // sends one figure per bucket, not one per series and bucket.
        let per_bucket = async {
            let mut per_bucket = vec![UsageStats::EMPTY; buckets.len()];
            let mut turns = Turns::default();
            for block in Blocks::all(keys.len(), edges.len(), 0) {
                turns.before_block().await;
                let combined = self
                    .timeseries
                    .combined_range_stats(&keys[block.series.clone()], &edges[block.edges()])
                    .await?;
                for (offset, stats) in combined.into_iter().enumerate() {
                    let bucket = &mut per_bucket[block.ranges.start + offset];
                    *bucket = bucket.merge(stats);
                }
            }
            Ok::<_, InsightsError>(per_bucket)
        };
        // Both at once: a source that waits on a database answers them in parallel rather
        // than one round trip after the other; one that computes in place is unaffected.
        let (series, per_bucket) = futures_util::future::try_join(per_series, per_bucket).await?;
        Ok(Totals {
            series,
            buckets: Some(per_bucket),
        })
    }

    /// Step 3: the peak demand (or, with `Pick::Lowest`, the baseload) of the whole, of each
    /// part, of each bucket and of each top circuit, streaming over blocks of intervals.
    async fn peaks(&self, keys: &[SeriesKey], plan: &PeakPlan<'_>) -> Result<Peaks, InsightsError> {
        let edges = &plan.demand.edges;
        let n_intervals = edges.len().saturating_sub(1);
        let mut peaks = Peaks {
            total: None,
            parts: vec![None; plan.n_parts],
            top: vec![None; plan.top.len()],
            buckets: vec![None; plan.buckets.len()],
        };
        // Which top rank each member holds, so a member's sums reach its rank in O(1).
        let mut rank_of = vec![None; keys.len()];
        for (rank, &index) in plan.top.iter().enumerate() {
            rank_of[index] = Some(rank);
        }
        let accumulators = 1 + plan.n_parts + plan.top.len();
        let mut bucket_cursor = 0;
        let mut turns = Turns::default();
        for time_block in Blocks::time_blocks(keys.len(), n_intervals + 1, accumulators) {
            let length = time_block.len();
            let mut total = vec![SampleSum::EMPTY; length];
            let mut parts = vec![SampleSum::EMPTY; plan.n_parts * length];
            let mut top = vec![SampleSum::EMPTY; plan.top.len() * length];
            for block in Blocks::series_blocks(keys.len(), &time_block) {
                turns.before_block().await;
                let answers = self
                    .timeseries
                    .range_stats(&keys[block.series.clone()], &edges[block.edges()])
                    .await?;
                for (offset, ranges) in answers.iter().enumerate() {
                    let index = block.series.start + offset;
                    let part = plan.members[index].part;
                    for (range, stats) in ranges.iter().enumerate() {
                        let value = stats.sum();
                        total[range] = total[range].merge(value);
                        if part < plan.n_parts {
                            let slot = &mut parts[part * length + range];
                            *slot = slot.merge(value);
                        }
                        if let Some(rank) = rank_of[index] {
                            top[rank * length + range] = value;
                        }
                    }
                }
            }
            for (range, sum) in total.iter().enumerate() {
                let index = time_block.start + range;
                let Some(candidate) = plan.candidate(*sum, edges[index], edges[index + 1]) else {
                    continue;
                };
                plan.keep(&mut peaks.total, candidate);
                // Buckets and intervals both run forward, so one cursor finds the bucket
                // that holds each interval wholly, if any.
                while bucket_cursor < plan.buckets.len()
                    && plan.buckets[bucket_cursor].end <= edges[index]
                {
                    bucket_cursor += 1;
                }
                if let Some(bucket) = plan.buckets.get(bucket_cursor) {
                    if bucket.start <= edges[index] && edges[index + 1] <= bucket.end {
                        plan.keep(&mut peaks.buckets[bucket_cursor], candidate);
                    }
                }
            }
            for (part, best) in peaks.parts.iter_mut().enumerate() {
                for (range, sum) in parts[part * length..][..length].iter().enumerate() {
                    let index = time_block.start + range;
                    if let Some(candidate) = plan.candidate(*sum, edges[index], edges[index + 1]) {
                        plan.keep(best, candidate);
                    }
                }
            }
            for (rank, best) in peaks.top.iter_mut().enumerate() {
                for (range, sum) in top[rank * length..][..length].iter().enumerate() {
                    let index = time_block.start + range;
                    if let Some(candidate) = plan.candidate(*sum, edges[index], edges[index + 1]) {
                        plan.keep(best, candidate);
                    }
                }
            }
        }
        Ok(peaks)
    }
}

/// Figures one call to the time-series source may return (series × ranges). It bounds the
/// memory a request holds at once, about 3 MiB of [`UsageStats`], whatever its window.
pub const CELLS_PER_CALL: usize = 1 << 16;

/// The most figures one usage request may ask the source for in all: circuits × (buckets +
/// demand and baseload intervals), a comparison's included. Past it the answer would take
/// seconds of CPU, so the request is refused with a suggestion that fits.
pub const MAX_CELLS_PER_REQUEST: usize = 16_000_000;

/// The ranges a usage request sums each series over, by kind, its comparison included.
struct Ranges {
    /// Windows: 1, or 2 with a comparison.
    windows: usize,
    buckets: usize,
    baseload: usize,
    demand: usize,
}

impl Ranges {
    fn of(request: &UsageRequest) -> Ranges {
        // A comparison does the same work again over its own window, whose buckets and
        // intervals may number a few more (a year earlier can hold a 29 February).
        let windows: Vec<&UsageRequest> = std::iter::once(request)
            .chain(request.compare.as_ref().map(|(_, other)| other.as_ref()))
            .collect();
        let intervals = |demand: &Option<Demand>| {
            demand
                .as_ref()
                .map_or(0, |demand| demand.edges.len().saturating_sub(1))
        };
        let total = |count: &dyn Fn(&UsageRequest) -> usize| windows.iter().map(|w| count(w)).sum();
        Ranges {
            windows: windows.len(),
            buckets: total(&|w| w.buckets.as_ref().map_or(0, Vec::len)),
            baseload: total(&|w| intervals(&w.baseload)),
            demand: total(&|w| intervals(&w.demand)),
        }
    }

    /// Figures over `n_series` series when these ranges number `ranges` (at least one a
    /// window: every series is summed over each window).
    fn cells(&self, n_series: usize, ranges: usize) -> usize {
        n_series.saturating_mul(ranges.max(self.windows))
    }
}

/// Refuses a request whose work would exceed [`MAX_CELLS_PER_REQUEST`].
fn check_work(n_series: usize, request: &UsageRequest) -> Result<(), InsightsError> {
    let ranges = Ranges::of(request);
    let (n_buckets, n_baseload, n_demand) = (ranges.buckets, ranges.baseload, ranges.demand);
    // The baseload's quarter hours are fixed work, like the buckets.
    let fixed = n_buckets + n_baseload;
    let n_intervals = n_demand + n_baseload;
    let cells = |count: usize| ranges.cells(n_series, count);
    if cells(n_buckets + n_intervals) <= MAX_CELLS_PER_REQUEST {
        return Ok(());
    }
    let error = match &request.demand {
        Some(demand) if cells(fixed) < MAX_CELLS_PER_REQUEST => {
            // Intervals scale inversely with their length; suggest the finest that fits.
            let fits = |candidate: DemandInterval| {
                let scale = candidate.seconds() as f64 / demand.interval.seconds() as f64;
                cells(fixed + (n_demand as f64 / scale).ceil() as usize) <= MAX_CELLS_PER_REQUEST
            };
            TooMuchWork {
                param: WorkParam::DemandInterval,
                cells: cells(n_buckets + n_intervals),
                // The interval asked for does not fit, nor does any finer one, so the first
                // that fits is coarser.
                suggestion: DemandInterval::ALL
                    .into_iter()
                    .find(|candidate| fits(*candidate))
                    .map(DemandInterval::name),
            }
        }
        // The buckets alone fit, and no demand interval is to blame (the arm above), so the
        // baseload's quarter hours tipped the request over.
        _ if cells(n_buckets) < MAX_CELLS_PER_REQUEST => TooMuchWork {
            param: WorkParam::Baseload,
            cells: cells(n_buckets + n_intervals),
            suggestion: None,
        },
        _ => TooMuchWork {
            param: WorkParam::Bucket,
            cells: cells(n_buckets + n_intervals),
            suggestion: None,
        },
    };
    Err(InsightsError::TooMuchWork(error))
}

/// Which option made a request too much work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkParam {
    /// The bucket width, over this many circuits.
    Bucket,
    /// The demand interval, over this many circuits.
    DemandInterval,
    /// The baseload's quarter hours, over this many circuits.
    Baseload,
}

/// A request that would ask the source for more than [`MAX_CELLS_PER_REQUEST`] figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooMuchWork {
    /// The option to change.
    pub param: WorkParam,
    /// Circuits × ranges the request needs.
    pub cells: usize,
    /// A coarser demand interval that fits, if one does.
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for TooMuchWork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let option = match self.param {
            WorkParam::Bucket => "the buckets",
            WorkParam::DemandInterval => "the demand intervals",
            WorkParam::Baseload => "the baseload's quarter hours",
        };
        write!(
            f,
            "{option} over this window and these circuits need {} figures (circuits × ranges), more than the {MAX_CELLS_PER_REQUEST} allowed",
            self.cells
        )?;
        match self.suggestion {
            Some(coarser) => write!(f, "; a demand interval of {coarser} fits"),
            None => Ok(()),
        }
    }
}

/// Step 1's result.
struct Totals {
    /// Each member's total over the window, in member order.
    series: Vec<UsageStats>,
    /// Each bucket's total over all members, when buckets were asked for.
    buckets: Option<Vec<UsageStats>>,
}

/// Step 2: the `count` members with the highest totals, highest first, then by circuit id,
/// so the ranking is total and stable.
fn rank(members: &[Member<'_>], totals: &[UsageStats], count: usize) -> Vec<usize> {
    let mut ranked: Vec<usize> = (0..members.len()).collect();
    ranked.sort_by(|&a, &b| {
        totals[b]
            .total()
            .cmp(&totals[a].total())
            .then_with(|| members[a].circuit.id.cmp(&members[b].circuit.id))
    });
    ranked.truncate(count);
    ranked
}

/// What step 3 needs besides the keys.
struct PeakPlan<'a> {
    members: &'a [Member<'a>],
    n_parts: usize,
    top: &'a [usize],
    buckets: &'a [Bucket],
    demand: &'a Demand,
    pick: Pick,
}

/// Which interval step 3 looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pick {
    /// The highest average power: peak demand. An interval without samples is 0 W.
    Highest,
    /// The lowest average power among intervals with samples: the baseload.
    Lowest,
}

impl PeakPlan<'_> {
    /// The demand of one interval: its summed samples as average power over its length,
    /// energy (each sample times its series' interval) over `length_s`; `None` where the baseload skips an interval without
    /// samples.
    fn candidate(
        &self,
        sum: SampleSum,
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Option<PeakDemand> {
        if self.pick == Pick::Lowest && sum.n_samples() == 0 {
            return None;
        }
        let length_seconds = (end - start).as_seconds_f64();
        Some(PeakDemand {
            watts: sum.energy_watt_seconds() / length_seconds,
            start,
            end,
        })
    }

    /// Keeps the better of the best so far and a later candidate; the earliest wins a tie.
    fn keep(&self, best: &mut Option<PeakDemand>, candidate: PeakDemand) {
        let better = match self.pick {
            Pick::Highest => best.is_none_or(|best| candidate.watts > best.watts),
            Pick::Lowest => best.is_none_or(|best| candidate.watts < best.watts),
        };
        if better {
            *best = Some(candidate);
        }
    }
}

/// Step 3's result: `None` where no whole interval fits.
struct Peaks {
    total: Option<PeakDemand>,
    parts: Vec<Option<PeakDemand>>,
    top: Vec<Option<PeakDemand>>,
    buckets: Vec<Option<PeakDemand>>,
}

/// Step 4: the answer, from the totals, the ranking and the peaks.
fn assemble(
    members: &[Member<'_>],
    parts: &[PartId],
    request: &UsageRequest,
    totals: Totals,
    top: Option<Vec<usize>>,
    [peaks, baseloads]: [Option<Peaks>; 2],
) -> Rollup {
    let window = &request.window;
    let mut part_totals = vec![UsageStats::EMPTY; parts.len()];
    let mut part_counts = vec![0usize; parts.len()];
    for (member, stats) in members.iter().zip(&totals.series) {
        if let Some(total) = part_totals.get_mut(member.part) {
            *total = total.merge(*stats);
            part_counts[member.part] += 1;
        }
    }
    let total: UsageStats = totals.series.iter().copied().sum();
    // The peak demand and the baseload of one usage object, read by `slot` from each pass.
    let extremes = |slot: &dyn Fn(&Peaks) -> Option<PeakDemand>| {
        let of = |found: &Option<Peaks>| match found.as_ref().map(slot) {
            None => Peak::NotAsked,
            Some(None) => Peak::NoWholeInterval,
            Some(Some(found)) => Peak::Found(found),
        };
        (of(&peaks), of(&baseloads))
    };
    let figures =
        |stats: UsageStats, length_nanos: i128, n_series: usize, (peak_demand, baseload)| Figures {
            usage: Usage::new(stats, length_nanos, n_series),
            peak_demand,
            baseload,
        };
    let group = |stats: UsageStats, circuit_count: usize, extremes| GroupUsage {
        circuit_count,
        figures: figures(stats, window.length_nanos(), circuit_count, extremes),
        average_watts_per_circuit: (circuit_count > 0)
            .then(|| stats.total().as_f64() / circuit_count as f64),
    };
    Rollup {
        window: *window,
        total: group(total, members.len(), extremes(&|found| found.total)),
        // Each part's figures are labelled with its id here, where the index that summed them
        // still means that part; past this point nothing relies on the order.
        parts: parts
            .iter()
            .zip(part_totals.iter().zip(&part_counts))
            .enumerate()
            .map(|(part, (&id, (stats, count)))| PartUsage {
                id,
                usage: group(*stats, *count, extremes(&|found| found.parts[part])),
            })
            .collect(),
        series: request
            .buckets
            .as_ref()
            .zip(totals.buckets)
            .map(|(buckets, per_bucket)| {
                buckets
                    .iter()
                    .zip(per_bucket)
                    .enumerate()
                    .map(|(index, (bucket, stats))| BucketUsage {
                        bucket: *bucket,
                        figures: figures(
                            stats,
                            bucket.length_nanos(),
                            members.len(),
                            extremes(&|found| found.buckets[index]),
                        ),
                    })
                    .collect()
            }),
        comparison: None,
        // Whether the window is past for these circuits comes from their extent, which the
        // caller reads beside the figures.
        settled: false,
        top_circuits: top.map(|ranked| {
            ranked
                .iter()
                .enumerate()
                .map(|(rank, &index)| {
                    let member = &members[index];
                    RankedCircuit {
                        circuit: member.circuit.clone(),
                        sensor: member.sensor.clone(),
                        location: member.location.clone(),
                        figures: figures(
                            totals.series[index],
                            window.length_nanos(),
                            1,
                            extremes(&|found| found.top[rank]),
                        ),
                    }
                })
                .collect()
        }),
    }
}

/// A block of the source's work: a range of series and a range of consecutive ranges (the
/// ranges between `edges[ranges.start]` and `edges[ranges.end]`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Block {
    series: std::ops::Range<usize>,
    ranges: std::ops::Range<usize>,
}

impl Block {
    /// The edges that bound the block's ranges.
    fn edges(&self) -> std::ops::Range<usize> {
        self.ranges.start..self.ranges.end + 1
    }
}

/// Splits `n_series` × the ranges between `n_edges` edges into blocks of at most
/// [`CELLS_PER_CALL`] cells, time-major: every series of one span of ranges before the next
/// span, so figures summed over series are complete when a span ends.
struct Blocks;

impl Blocks {
    /// Every block, time-major; `accumulators` counts the extra figures kept per range.
    fn all(n_series: usize, n_edges: usize, accumulators: usize) -> impl Iterator<Item = Block> {
        Blocks::time_blocks(n_series, n_edges, accumulators)
            .flat_map(move |ranges| Blocks::series_blocks(n_series, &ranges).collect::<Vec<_>>())
    }

    /// The spans of ranges, each small enough that one block of series over it, plus
    /// `accumulators` figures per range, stays within [`CELLS_PER_CALL`].
    fn time_blocks(
        n_series: usize,
        n_edges: usize,
        accumulators: usize,
    ) -> impl Iterator<Item = std::ops::Range<usize>> {
        let n_ranges = n_edges.saturating_sub(1);
        let per_call = n_series.clamp(1, SERIES_PER_CALL).max(accumulators);
        let span = (CELLS_PER_CALL / per_call).max(1);
        (0..n_ranges)
            .step_by(span)
            .map(move |start| start..(start + span).min(n_ranges))
    }

    /// The blocks of series over one span of ranges.
    fn series_blocks(
        n_series: usize,
        ranges: &std::ops::Range<usize>,
    ) -> impl Iterator<Item = Block> {
        let ranges = ranges.clone();
        (0..n_series)
            .step_by(SERIES_PER_CALL)
            .map(move |start| Block {
                series: start..(start + SERIES_PER_CALL).min(n_series),
                ranges: ranges.clone(),
            })
    }
}

/// Turns given to the executor between blocks of work: other requests on the same thread
/// run, and a cancelled request stops there instead of running to the end. Only between
/// blocks, never before the first: a request of one block (every light one) then finishes
/// in one poll, where a turn would cost another trip through the server's whole stack of
/// futures for nothing.
#[derive(Default)]
struct Turns {
    started: bool,
}

impl Turns {
    /// Before a block: a turn for the executor, unless it is the first block.
    async fn before_block(&mut self) {
        if std::mem::replace(&mut self.started, true) {
            yield_now().await;
        }
    }
}

/// Gives the executor a turn. Runtime-agnostic, so the core needs no async runtime.
fn yield_now() -> impl std::future::Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |context| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            context.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_rfc3339;
    use crate::window::DEFAULT_MAX_WINDOW;

    /// The options of a request over 2024 (366 days), or over its first `minutes` minutes.
    #[derive(Default)]
    struct Options {
        minutes: Option<i64>,
        bucket: Option<BucketWidth>,
        demand: Option<&'static str>,
        baseload: bool,
        compare: bool,
    }

    fn request(options: Options) -> UsageRequest {
        request_builder(options).build().unwrap()
    }

    fn request_builder(options: Options) -> UsageRequestBuilder {
        let start = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        let end = match options.minutes {
            Some(minutes) => start + Duration::minutes(minutes),
            None => parse_rfc3339("2025-01-01T00:00:00Z").unwrap(),
        };
        let mut builder =
            UsageRequest::builder(Window::new(start, end, DEFAULT_MAX_WINDOW).unwrap());
        if let Some(width) = options.bucket {
            builder = builder.bucket(width);
        }
        if let Some(name) = options.demand {
            builder = builder.demand_interval(DemandInterval::parse(name).unwrap());
        }
        if options.baseload {
            builder = builder.baseload();
        }
        if options.compare {
            builder = builder.compare(Comparison::Previous);
        }
        builder
    }

    fn check(
        n_series: usize,
        options: Options,
        expected: Result<(), (WorkParam, usize, Option<&str>)>,
    ) {
        let actual = check_work(n_series, &request(options)).map_err(|error| match error {
            InsightsError::TooMuchWork(work) => (work.param, work.cells, work.suggestion),
            other => panic!("unexpected {other}"),
        });
        assert_eq!(actual, expected, "{n_series} series");
    }

    #[test]
    fn work_is_circuits_times_ranges_and_the_advice_names_what_to_change() {
        use WorkParam::{Baseload, Bucket, DemandInterval as Demand};
        let demand = |name| Options {
            demand: Some(name),
            ..Options::default()
        };
        // 2024 has 105,408 five-minute intervals: 151 circuits fit, 152 do not, and the
        // finest coarser interval that fits is suggested.
        check(151, demand("5m"), Ok(()));
        check(152, demand("5m"), Err((Demand, 16_022_016, Some("15m"))));
        check(1000, demand("5m"), Err((Demand, 105_408_000, Some("1h"))));
        check(2000, demand("5m"), Err((Demand, 210_816_000, None)));
        // Buckets are fixed work beside the intervals.
        let days_and_demand = Options {
            bucket: Some(BucketWidth::Day),
            demand: Some("5m"),
            ..Options::default()
        };
        check(152, days_and_demand, Err((Demand, 16_077_648, Some("15m"))));
        // A comparison does the work again over its own window.
        let compared = || Options {
            demand: Some("5m"),
            compare: true,
            ..Options::default()
        };
        check(75, compared(), Ok(()));
        check(76, compared(), Err((Demand, 16_022_016, Some("15m"))));
        // 10,000 minute buckets: 1,600 circuits are exactly the limit.
        let minutes = |demand| Options {
            minutes: Some(10_000),
            bucket: Some(BucketWidth::Minute),
            demand,
            ..Options::default()
        };
        check(1600, minutes(None), Ok(()));
        // The buckets reach the limit on their own, so they, not the baseload, are to blame.
        let minutes_and_baseload = Options {
            baseload: true,
            ..minutes(None)
        };
        check(1600, minutes_and_baseload, Err((Bucket, 17_065_600, None)));
        check(1601, minutes(None), Err((Bucket, 16_010_000, None)));
        // When the buckets alone reach the limit, no demand interval can help.
        check(1600, minutes(Some("1h")), Err((Bucket, 16_265_600, None)));
        // 2024 has 35,136 quarter hours: the baseload of 456 circuits is too much.
        let baseload = || Options {
            baseload: true,
            ..Options::default()
        };
        check(455, baseload(), Ok(()));
        check(456, baseload(), Err((Baseload, 16_022_016, None)));
    }

    #[test]
    fn the_estimated_ranges_count_each_window_once_and_every_range() {
        fn check(options: Options, expected: usize) {
            let built = request_builder(options);
            assert_eq!(built.estimated_ranges(), expected);
            // Never fewer than the ranges the request is then built with, for aligned windows.
            let request = built.build().unwrap();
            let ranges = Ranges::of(&request);
            let exact = (ranges.buckets + ranges.demand + ranges.baseload).max(ranges.windows);
            assert!(exact <= expected, "{exact} > {expected}");
        }
        let hour = || Options {
            minutes: Some(60),
            ..Options::default()
        };
        // A window alone is one range; a comparison adds its own window.
        check(hour(), 1);
        check(
            Options {
                compare: true,
                ..hour()
            },
            2,
        );
        // Each bucket and interval is a range.
        let buckets = |bucket| Options {
            bucket: Some(bucket),
            ..hour()
        };
        check(buckets(BucketWidth::Minute), 60);
        check(
            Options {
                demand: Some("15m"),
                baseload: true,
                ..buckets(BucketWidth::Minute)
            },
            60 + 4 + 4,
        );
        // A year of 5-minute intervals, without building them; months count as 28 days.
        check(
            Options {
                demand: Some("5m"),
                ..Options::default()
            },
            105_408,
        );
        check(
            Options {
                bucket: Some(BucketWidth::Month),
                ..Options::default()
            },
            14,
        );
    }
}
