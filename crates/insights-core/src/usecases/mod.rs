//! The use cases: the metadata lookups, usage of any entity a lookup found over a window
//! ([`Insights::usage_of`]: optionally bucketed, with peak demand, baseload, top circuits and
//! a comparison window), and data ranges. Each lookup takes the caller's [`Scope`].
//!
//! Every usage answer is a [`Rollup`]: the entity's circuits, grouped into parts (its
//! children: [`Rollable`]), summed by the one roll-up every level shares. It asks the
//! time-series source for each series over the window and, with buckets, all series over each
//! bucket; then, for peak demand and for the baseload, one more pass each over the intervals;
//! a comparison does it all again over the other window. Each pass is a series of calls, each
//! for at most `SERIES_PER_CALL` series and [`CELLS_PER_CALL`] figures.
//!
//! This module holds [`Insights`] and its use cases; the rest sits beside it by concern:
//! `scope` (whose data a caller may see, and the errors), `request` (a validated
//! [`UsageRequest`]), `answer` (what the use cases return), `members` (a roll-up's circuits, and what is `Rollable`),
//! `work` (the work limit) and `assembly` (totals, ranking and the interval passes).

use std::sync::Arc;

use time::OffsetDateTime;

use crate::ids::{BrandId, CircuitId, LocationId, OrganizationId, SensorId, SeriesKey};
use crate::model::{
    BrandTree, CircuitContext, LocationSummary, LocationTree, OrganizationTree, SensorDetail,
};
use crate::ports::{Extent, MetadataRepo, TimeSeriesSource};
use crate::stats::{SampleSum, UsageStats};

mod answer;
mod assembly;
mod members;
mod request;
mod scope;
mod work;

pub use self::answer::{
    BrandUsage, BucketUsage, CircuitUsage, DataRange, EntityUsage, Figures, GroupUsage,
    LocationUsage, OrganizationUsage, PartUsage, Peak, PeakDemand, RankedCircuit, Rollup,
    VisibleBrand, VisibleOrganization,
};
pub use self::request::{
    Comparison, Demand, UsageRequest, UsageRequestBuilder, UsageRequestError, BASELOAD_INTERVAL,
    MAX_TOP,
};
pub use self::scope::{EntityRef, InsightsError, Scope};
pub use self::work::{TooMuchWork, WorkParam, CELLS_PER_CALL, MAX_CELLS_PER_REQUEST};

use self::assembly::{assemble, rank, Blocks, PeakPlan, Peaks, Pick, Totals, Turns};
pub use self::members::Rollable;
use self::members::{brand_keys, Member, SERIES_PER_CALL};
use self::work::check_work;

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

    /// The usage of an entity that a lookup found within the caller's scope
    /// ([`Insights::circuit`], [`Insights::electric_sensor`], [`Insights::location_summary`],
    /// [`Insights::organization`], [`Insights::brand_metadata`]), broken down into its parts.
    /// Looking up first tells a caller the entity's size ([`Rollable::circuit_count`]) before
    /// it commits to the work. The scope is checked again, so an entity made by hand is no
    /// way around it: outside the scope, the answer is the `NotFound` an unknown id gets.
    pub async fn usage_of<E: Rollable>(
        &self,
        scope: &Scope,
        entity: Arc<E>,
        request: &UsageRequest,
    ) -> Result<EntityUsage<E>, InsightsError> {
        entity.seen_by(scope).map_err(InsightsError::NotFound)?;
        let (members, parts) = entity.members();
        let rollup = self.rollup(&members, &parts, request).await?;
        drop(members);
        Ok(EntityUsage { entity, rollup })
    }

    /// A circuit's usage.
    pub async fn circuit_usage(
        &self,
        scope: &Scope,
        id: CircuitId,
        request: &UsageRequest,
    ) -> Result<CircuitUsage, InsightsError> {
        self.usage_of(scope, self.circuit(scope, id).await?, request)
            .await
    }

    /// A location's usage, with each sensor's share.
    pub async fn location_usage(
        &self,
        scope: &Scope,
        id: LocationId,
        request: &UsageRequest,
    ) -> Result<LocationUsage, InsightsError> {
        self.usage_of(scope, self.location_summary(scope, id).await?, request)
            .await
    }

    /// An organization's usage, with each location's share.
    pub async fn organization_usage(
        &self,
        scope: &Scope,
        id: OrganizationId,
        request: &UsageRequest,
    ) -> Result<OrganizationUsage, InsightsError> {
        self.usage_of(scope, self.organization(scope, id).await?, request)
            .await
    }

    /// A brand's usage, with each organization's share.
    pub async fn brand_usage(
        &self,
        scope: &Scope,
        id: BrandId,
        request: &UsageRequest,
    ) -> Result<BrandUsage, InsightsError> {
        self.usage_of(scope, self.brand_metadata(scope, id).await?, request)
            .await
    }

    /// A circuit with its sensor, location and organization.
    pub async fn circuit(
        &self,
        scope: &Scope,
        id: CircuitId,
    ) -> Result<Arc<CircuitContext>, InsightsError> {
        self.metadata
            .circuit(id)
            .await?
            .filter(|context| scope.admits(&context.organization))
            .ok_or(InsightsError::NotFound(EntityRef::Circuit(id)))
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

    /// The series of the entity's circuits, if the scope may see it.
    async fn series_of(
        &self,
        scope: &Scope,
        entity: EntityRef,
    ) -> Result<Vec<SeriesKey>, InsightsError> {
        Ok(match entity {
            EntityRef::Circuit(id) => vec![self.circuit(scope, id).await?.series_key()],
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
        let tree = self.organization(scope, id).await?;
        Ok(tree
            .locations
            .iter()
            .flat_map(LocationTree::series_keys)
            .collect())
    }

    /// An organization with its brand and everything below it.
    pub async fn organization(
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
        parts: &[EntityRef],
        request: &UsageRequest,
    ) -> Result<Rollup, InsightsError> {
        check_work(members.len(), request).map_err(InsightsError::TooMuchWork)?;
        let keys: Vec<SeriesKey> = members.iter().map(Member::key).collect();
        // Asked before the figures, not beside them: a source whose later reads see at least
        // what its earlier ones saw (any one database, or a replica as it replays) then has
        // every sample of the window that the figures could miss committed after the sample
        // that settled it, which makes them late samples, as they would be on the primary.
        let settled = self.has_samples_from(&keys, request.window.end()).await?;
        let (mut rollup, ranking) = self
            .rollup_once(members, &keys, parts, request, None)
            .await?;
        rollup.settled = settled;
        if let Some((kind, other)) = &request.compare {
            // A comparison window ends before the request's: past whenever that one is.
            let settled = settled || self.has_samples_from(&keys, other.window.end()).await?;
            let (mut compared, _) = self
                .rollup_once(members, &keys, parts, other, ranking)
                .await?;
            compared.settled = settled;
            rollup.comparison = Some((*kind, Box::new(compared)));
        }
        Ok(rollup)
    }

    /// One window's roll-up, and the ranking of its top circuits (member indices); with
    /// `ranking` given, those circuits are reported instead of this window's own top. `keys`
    /// are the members' series, in their order, copied once by the caller.
    async fn rollup_once(
        &self,
        members: &[Member<'_>],
        keys: &[SeriesKey],
        parts: &[EntityRef],
        request: &UsageRequest,
        ranking: Option<Vec<usize>>,
    ) -> Result<(Rollup, Option<Vec<usize>>), InsightsError> {
        let totals = self.totals(keys, request).await?;
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
            Some(demand) => Some(self.peaks(keys, &plan(demand, Pick::Highest)).await?),
        };
        let baseloads = match &request.baseload {
            None => None,
            Some(intervals) => Some(self.peaks(keys, &plan(intervals, Pick::Lowest)).await?),
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
                for (offset, ranges) in answers.rows().enumerate() {
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

#[cfg(test)]
mod tests {
    use super::work::Ranges;
    use super::*;
    use crate::bucket::{BucketWidth, DemandInterval};
    use crate::timestamp::parse_rfc3339;
    use crate::window::Window;
    use crate::window::DEFAULT_MAX_WINDOW;
    use time::Duration;

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
        let actual = check_work(n_series, &request(options))
            .map_err(|work| (work.param, work.cells, work.suggestion));
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
