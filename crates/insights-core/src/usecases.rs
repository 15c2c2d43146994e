//! The use cases: usage of a circuit or an organization over a window, and the metadata lookups.

use std::fmt;
use std::sync::Arc;

use crate::ids::{BrandId, CircuitId, LocationId, OrganizationId, SensorId};
use crate::model::{
    BrandTree, CircuitContext, Location, LocationSummary, OrganizationTree, SensorDetail,
};
use crate::ports::{MetadataError, MetadataRepo, TimeSeriesError, TimeSeriesSource};
use crate::stats::{Usage, UsageStats};
use crate::window::Window;

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

/// A circuit's usage over a window.
#[derive(Clone, Debug, PartialEq)]
pub struct CircuitUsage {
    /// The circuit and what it belongs to.
    pub context: Arc<CircuitContext>,
    /// The window asked for.
    pub window: Window,
    /// The circuit's usage.
    pub usage: Usage,
}

/// The usage of a group of circuits, with the per-circuit average.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupUsage {
    /// How many circuits the group has.
    pub circuit_count: usize,
    /// Their combined usage.
    pub usage: Usage,
    /// `usage.total_watts / circuit_count`, or `None` for a group without circuits.
    pub average_watts_per_circuit: Option<f64>,
}

impl GroupUsage {
    fn new(
        stats: UsageStats,
        circuit_count: usize,
        window: &Window,
        source: &impl TimeSeriesSource,
    ) -> GroupUsage {
        GroupUsage {
            circuit_count,
            usage: Usage::new(
                stats,
                source.nominal_interval(),
                window.length_nanos(),
                circuit_count,
            ),
            average_watts_per_circuit: (circuit_count > 0)
                .then(|| stats.total().as_f64() / circuit_count as f64),
        }
    }
}

/// One location's share of an organization's usage.
#[derive(Clone, Debug, PartialEq)]
pub struct LocationUsage {
    /// The location.
    pub location: Location,
    /// Its usage.
    pub usage: GroupUsage,
}

/// An organization's usage over a window, broken down by location.
#[derive(Clone, Debug, PartialEq)]
pub struct OrganizationUsage {
    /// The organization, its brand and its subtree.
    pub tree: Arc<OrganizationTree>,
    /// The window asked for.
    pub window: Window,
    /// How many locations the organization has, including those without circuits.
    pub location_count: usize,
    /// The usage of all its circuits.
    pub usage: GroupUsage,
    /// Each location's usage, in the tree's order: by name, then id.
    pub locations: Vec<LocationUsage>,
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

    /// A circuit's usage over a window.
    pub async fn circuit_usage(
        &self,
        id: CircuitId,
        window: &Window,
    ) -> Result<CircuitUsage, InsightsError> {
        let context = self
            .metadata
            .circuit(id)
            .await?
            .ok_or(InsightsError::NotFound(EntityRef::Circuit(id)))?;
        let stats = self
            .timeseries
            .window_stats(&[context.series_key()], window)
            .await?
            .into_iter()
            .sum();
        let usage = Usage::new(
            stats,
            self.timeseries.nominal_interval(),
            window.length_nanos(),
            1,
        );
        Ok(CircuitUsage {
            context,
            window: *window,
            usage,
        })
    }

    /// An organization's usage over a window, with each location's share.
    pub async fn organization_usage(
        &self,
        id: OrganizationId,
        window: &Window,
    ) -> Result<OrganizationUsage, InsightsError> {
        let tree = self
            .metadata
            .organization(id)
            .await?
            .ok_or(InsightsError::NotFound(EntityRef::Organization(id)))?;
        let keys: Vec<_> = tree
            .locations
            .iter()
            .flat_map(|location| location.series_keys())
            .collect();
        let per_series = self.timeseries.window_stats(&keys, window).await?;
        let mut per_series = per_series.into_iter();
        let mut total = UsageStats::EMPTY;
        let locations = tree
            .locations
            .iter()
            .map(|location| {
                let circuit_count = location.circuit_count();
                let stats: UsageStats = per_series.by_ref().take(circuit_count).sum();
                total = total.merge(stats);
                LocationUsage {
                    location: location.location.clone(),
                    usage: GroupUsage::new(stats, circuit_count, window, &self.timeseries),
                }
            })
            .collect();
        Ok(OrganizationUsage {
            window: *window,
            location_count: tree.locations.len(),
            usage: GroupUsage::new(total, keys.len(), window, &self.timeseries),
            locations,
            tree,
        })
    }

    /// An electric sensor with its location and circuits.
    pub async fn electric_sensor(&self, id: SensorId) -> Result<Arc<SensorDetail>, InsightsError> {
        self.metadata
            .sensor(id)
            .await?
            .ok_or(InsightsError::NotFound(EntityRef::Sensor(id)))
    }

    /// A location with its organization, sensors and circuits.
    pub async fn location_summary(
        &self,
        id: LocationId,
    ) -> Result<Arc<LocationSummary>, InsightsError> {
        self.metadata
            .location(id)
            .await?
            .ok_or(InsightsError::NotFound(EntityRef::Location(id)))
    }

    /// A brand with its organizations and locations.
    pub async fn brand_metadata(&self, id: BrandId) -> Result<Arc<BrandTree>, InsightsError> {
        self.metadata
            .brand(id)
            .await?
            .ok_or(InsightsError::NotFound(EntityRef::Brand(id)))
    }
}
