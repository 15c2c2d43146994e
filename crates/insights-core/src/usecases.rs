//! The use cases: usage of a circuit, a location, an organization or a brand over a window
//! (optionally bucketed, with peak demand and top circuits), and the metadata lookups.
//!
//! Every usage answer is a [`Rollup`]: the entity's circuits, grouped into parts (sensors,
//! locations or organizations), summed in one pass over the time-series source.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::bucket::{
    buckets, demand_edges, Bucket, BucketWidth, DemandInterval, TooManyBuckets, Zone,
};
use crate::ids::{BrandId, CircuitId, LocationId, OrganizationId, SensorId, SeriesKey};
use crate::model::{
    BrandTree, Circuit, CircuitContext, ElectricSensor, Location, LocationSummary, LocationTree,
    Organization, OrganizationTree, SensorDetail,
};
use crate::ports::{MetadataError, MetadataRepo, TimeSeriesError, TimeSeriesSource};
use crate::stats::{TotalWatts, Usage, UsageStats};
use crate::window::Window;

/// The most circuits `top` may ask for.
pub const MAX_TOP: usize = 100;

/// Series per call to the source, which bounds the memory a bucketed answer holds.
const SERIES_PER_CALL: usize = 256;

/// The entity a lookup did not find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// Whose data a caller may see.
///
/// Every use case takes one. Anything outside it is answered exactly as an id that does not
/// exist, so a caller cannot even learn that another tenant's ids are real.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

impl fmt::Display for InsightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsightsError::NotFound(entity) => write!(f, "{entity} does not exist"),
            InsightsError::Metadata(error) => error.fmt(f),
            InsightsError::TimeSeries(error) => error.fmt(f),
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

/// Why a usage request's options were rejected; [`UsageRequestError::param`] names the
/// query parameter at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageRequestError {
    /// A zone was given without a bucket width.
    ZoneWithoutBucket,
    /// The bucket width would make too many buckets.
    TooManyBuckets(TooManyBuckets),
    /// `top` is outside `1..=MAX_TOP`.
    TopOutOfRange(usize),
}

impl UsageRequestError {
    /// The query parameter the error is about.
    pub fn param(&self) -> &'static str {
        match self {
            UsageRequestError::ZoneWithoutBucket => "tz",
            UsageRequestError::TooManyBuckets(_) => "bucket",
            UsageRequestError::TopOutOfRange(_) => "top",
        }
    }
}

impl fmt::Display for UsageRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageRequestError::ZoneWithoutBucket => {
                f.write_str("`tz` applies only with `bucket`; add a `bucket` or drop `tz`")
            }
            UsageRequestError::TooManyBuckets(error) => error.fmt(f),
            UsageRequestError::TopOutOfRange(top) => {
                write!(f, "`top` must be from 1 to {MAX_TOP}, got {top}")
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
    top: Option<usize>,
}

impl UsageRequest {
    /// Just the window's usage.
    pub fn window(window: Window) -> UsageRequest {
        UsageRequest {
            window,
            buckets: None,
            demand: None,
            top: None,
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
            top,
        })
    }

    /// The window.
    pub fn window_bounds(&self) -> &Window {
        &self.window
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

/// A usage object: the usage and, when demand intervals were asked for, the peak demand
/// (`Some(None)` when no whole interval fits).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    /// The usage.
    pub usage: Usage,
    /// `None` when not asked for.
    pub peak_demand: Option<Option<PeakDemand>>,
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

/// One bucket's usage.
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
    /// The circuit.
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
    /// Each part (sensor, location or organization), in the tree's order.
    pub parts: Vec<GroupUsage>,
    /// Each bucket of the whole, when buckets were asked for.
    pub series: Option<Vec<BucketUsage>>,
    /// The circuits with the highest totals, when asked for.
    pub top_circuits: Option<Vec<RankedCircuit>>,
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

    /// The metadata store.
    pub fn metadata(&self) -> &M {
        &self.metadata
    }

    /// The time-series source.
    pub fn timeseries(&self) -> &T {
        &self.timeseries
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
        let rollup = self.rollup(&[member], 0, request).await?;
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
        let rollup = self
            .rollup(&members, summary.tree.sensors.len(), request)
            .await?;
        Ok(LocationUsage { summary, rollup })
    }

    /// An organization's usage, with each location's share.
    pub async fn organization_usage(
        &self,
        scope: &Scope,
        id: OrganizationId,
        request: &UsageRequest,
    ) -> Result<OrganizationUsage, InsightsError> {
        let not_found = InsightsError::NotFound(EntityRef::Organization(id));
        if !scope.may_admit_organization(id) {
            return Err(not_found);
        }
        let tree = self
            .metadata
            .organization(id)
            .await?
            .filter(|tree| scope.admits(&tree.organization))
            .ok_or(not_found)?;
        let members: Vec<Member> = tree
            .locations
            .iter()
            .enumerate()
            .flat_map(|(location_index, location)| members_of(location, move |_| location_index))
            .collect();
        let rollup = self.rollup(&members, tree.locations.len(), request).await?;
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
        let rollup = self
            .rollup(&members, tree.organizations.len(), request)
            .await?;
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

    /// Sums the members' series over the request, by part, bucket and demand interval.
    async fn rollup(
        &self,
        members: &[Member<'_>],
        n_parts: usize,
        request: &UsageRequest,
    ) -> Result<Rollup, InsightsError> {
        let window = &request.window;
        let interval = self.timeseries.nominal_interval();
        let keys: Vec<SeriesKey> = members.iter().map(|member| member.key.clone()).collect();

        // Per-series totals over the window, and per-bucket totals over all series.
        let (series_totals, bucket_totals) = match &request.buckets {
            None => (self.timeseries.window_stats(&keys, window).await?, None),
            Some(buckets) => {
                let edges: Vec<OffsetDateTime> = buckets
                    .iter()
                    .map(|bucket| bucket.start)
                    .chain(buckets.last().map(|bucket| bucket.end))
                    .collect();
                let mut series_totals = Vec::with_capacity(keys.len());
                let mut bucket_totals = vec![UsageStats::EMPTY; buckets.len()];
                for chunk in keys.chunks(SERIES_PER_CALL) {
                    for per_bucket in self.timeseries.range_stats(chunk, &edges).await? {
                        for (total, stats) in bucket_totals.iter_mut().zip(&per_bucket) {
                            *total = total.merge(*stats);
                        }
                        series_totals.push(per_bucket.into_iter().sum());
                    }
                }
                (series_totals, Some(bucket_totals))
            }
        };
        let mut part_totals = vec![UsageStats::EMPTY; n_parts];
        let mut part_counts = vec![0usize; n_parts];
        for (member, stats) in members.iter().zip(&series_totals) {
            if let Some(total) = part_totals.get_mut(member.part) {
                *total = total.merge(*stats);
                part_counts[member.part] += 1;
            }
        }
        let total: UsageStats = series_totals.iter().copied().sum();

        // Highest totals first, then circuit id, so the ranking is total and stable.
        let top: Option<Vec<usize>> = request.top.map(|count| {
            let mut ranked: Vec<usize> = (0..members.len()).collect();
            ranked.sort_by(|&a, &b| {
                series_totals[b]
                    .total()
                    .cmp_value(&series_totals[a].total())
                    .then_with(|| members[a].circuit.id.cmp(&members[b].circuit.id))
            });
            ranked.truncate(count);
            ranked
        });

        let peaks = match &request.demand {
            None => None,
            Some(demand) => Some(
                self.demand_sums(&keys, members, n_parts, top.as_deref(), demand)
                    .await?,
            ),
        };
        let peak_of = |sums: Option<&Vec<TotalWatts>>,
                       from: OffsetDateTime,
                       to: OffsetDateTime|
         -> Option<Option<PeakDemand>> {
            let demand = request.demand.as_ref()?;
            Some(sums.and_then(|sums| peak(sums, &demand.edges, interval, from, to)))
        };
        let figures = |stats: UsageStats,
                       length_nanos: i128,
                       n_series: usize,
                       peak_demand: Option<Option<PeakDemand>>| Figures {
            usage: Usage::new(stats, interval, length_nanos, n_series),
            peak_demand,
        };
        let group = |stats: UsageStats, circuit_count: usize, peak_demand| GroupUsage {
            circuit_count,
            figures: figures(stats, window.length_nanos(), circuit_count, peak_demand),
            average_watts_per_circuit: (circuit_count > 0)
                .then(|| stats.total().as_f64() / circuit_count as f64),
        };
        let (start, end) = (window.start(), window.end());
        let sums = peaks.as_ref();
        Ok(Rollup {
            window: *window,
            total: group(
                total,
                members.len(),
                peak_of(sums.map(|sums| &sums.total), start, end),
            ),
            parts: part_totals
                .iter()
                .zip(&part_counts)
                .enumerate()
                .map(|(part, (stats, count))| {
                    group(
                        *stats,
                        *count,
                        peak_of(sums.map(|sums| &sums.parts[part]), start, end),
                    )
                })
                .collect(),
            series: request
                .buckets
                .as_ref()
                .zip(bucket_totals)
                .map(|(buckets, totals)| {
                    buckets
                        .iter()
                        .zip(totals)
                        .map(|(bucket, stats)| BucketUsage {
                            bucket: *bucket,
                            figures: figures(
                                stats,
                                bucket.length_nanos(),
                                members.len(),
                                peak_of(sums.map(|sums| &sums.total), bucket.start, bucket.end),
                            ),
                        })
                        .collect()
                }),
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
                                series_totals[index],
                                window.length_nanos(),
                                1,
                                peak_of(sums.map(|sums| &sums.top[rank]), start, end),
                            ),
                        }
                    })
                    .collect()
            }),
        })
    }

    /// The summed sample values in each demand interval: over all members, per part, and
    /// per top circuit.
    async fn demand_sums(
        &self,
        keys: &[SeriesKey],
        members: &[Member<'_>],
        n_parts: usize,
        top: Option<&[usize]>,
        demand: &Demand,
    ) -> Result<DemandSums, InsightsError> {
        let n_intervals = demand.edges.len().saturating_sub(1);
        let zero = vec![TotalWatts::default(); n_intervals];
        let top = top.unwrap_or_default();
        let mut sums = DemandSums {
            total: zero.clone(),
            parts: vec![zero.clone(); n_parts],
            top: vec![zero; top.len()],
        };
        if n_intervals == 0 {
            return Ok(sums);
        }
        for (chunk_index, chunk) in keys.chunks(SERIES_PER_CALL).enumerate() {
            for (offset, per_interval) in self
                .timeseries
                .range_stats(chunk, &demand.edges)
                .await?
                .into_iter()
                .enumerate()
            {
                let index = chunk_index * SERIES_PER_CALL + offset;
                let rank = top.iter().position(|&ranked| ranked == index);
                for (interval, stats) in per_interval.iter().enumerate() {
                    let value = stats.total();
                    sums.total[interval] += value;
                    if let Some(part) = sums.parts.get_mut(members[index].part) {
                        part[interval] += value;
                    }
                    if let Some(rank) = rank {
                        sums.top[rank][interval] = value;
                    }
                }
            }
        }
        Ok(sums)
    }
}

struct DemandSums {
    total: Vec<TotalWatts>,
    parts: Vec<Vec<TotalWatts>>,
    top: Vec<Vec<TotalWatts>>,
}

/// The interval of highest average power among those lying wholly in `[from, to)`; the
/// earliest wins a tie. Average power is `sum * interval_s / length_s`.
fn peak(
    sums: &[TotalWatts],
    edges: &[OffsetDateTime],
    interval: time::Duration,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Option<PeakDemand> {
    let first = edges.partition_point(|edge| *edge < from);
    let last_edge = edges.partition_point(|edge| *edge <= to);
    let mut best: Option<PeakDemand> = None;
    for index in first..last_edge.saturating_sub(1) {
        let (start, end) = (edges[index], edges[index + 1]);
        let length_seconds = (end - start).as_seconds_f64();
        let watts = sums[index].as_f64() * interval.as_seconds_f64() / length_seconds;
        if best.is_none_or(|best| watts > best.watts) {
            best = Some(PeakDemand { watts, start, end });
        }
    }
    best
}
