//! The domain core of the Insights Service: how much power a circuit, a location or an
//! organization drew over a window.
//!
//! This crate does no I/O. It holds the window rules ([`Window`]), the mergeable statistics
//! ([`UsageStats`]), the two ports that adapters implement ([`MetadataRepo`] and
//! [`TimeSeriesSource`]), time buckets and demand intervals in any IANA zone
//! ([`BucketWidth`], [`Zone`]), and the use cases over them ([`Insights`]). [`InMemoryMetadata`]
//! serves the embedded seed catalogue and doubles as a test store.
//!
//! # Example
//!
//! Plug in the ports and ask for a circuit's usage. Any [`TimeSeriesSource`] works; this one
//! answers every series with the same two samples.
//!
//! ```
//! use insights_core::{
//!     DEFAULT_MAX_WINDOW, InMemoryMetadata, Insights, SeriesKey, TimeSeriesError,
//!     Scope, TimeSeriesSource, UsageRequest, UsageStats, Window,
//! };
//!
//! struct TwoSamples;
//!
//! impl TimeSeriesSource for TwoSamples {
//!     fn nominal_interval(&self) -> time::Duration {
//!         time::Duration::minutes(1)
//!     }
//!
//!     async fn window_stats(
//!         &self,
//!         series: &[SeriesKey],
//!         _window: &Window,
//!     ) -> Result<Vec<UsageStats>, TimeSeriesError> {
//!         Ok(series.iter().map(|_| [120.0, 180.0].into_iter().collect()).collect())
//!     }
//! }
//!
//! let insights = Insights::new(InMemoryMetadata::seed(), TwoSamples);
//! let window = Window::parse(
//!     Some("2024-04-01T00:00:00Z"),
//!     Some("2024-04-01T00:02:00Z"),
//!     DEFAULT_MAX_WINDOW,
//! )?;
//! let circuit_id = "d36e0c8c-d7d4-5740-88c4-dea626057ff1".parse()?;
//! let request = UsageRequest::window(window);
//! let answer = futures_executor::block_on(insights.circuit_usage(&Scope::All, circuit_id, &request))?;
//!
//! let usage = answer.rollup.total.figures.usage;
//! assert_eq!(answer.context.sensor.duid.as_str(), "6D12E310B371FCB1");
//! assert_eq!(usage.stats.total().as_integer(), Some(300));
//! assert_eq!(usage.energy_wh, 5.0);
//! assert_eq!(usage.coverage, 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod bucket;
mod catalogue;
mod ids;
mod memory;
mod model;
mod ports;
mod stats;
mod timestamp;
mod usecases;
mod window;

pub use bucket::{
    boundaries, buckets, demand_edges, Bucket, BucketWidth, DemandInterval, TooManyBuckets, Zone,
    MAX_BUCKETS,
};
pub use catalogue::{Catalogue, CatalogueError, CatalogueErrorKind, SEED_TSV, TSV_HEADER};
pub use ids::{BrandId, CircuitId, Duid, LocationId, OrganizationId, SensorId, SeriesKey};
pub use memory::InMemoryMetadata;
pub use model::{
    Brand, BrandTree, Circuit, CircuitContext, ElectricSensor, Location, LocationSummary,
    LocationTree, Organization, OrganizationNode, OrganizationTree, SensorDetail,
    SensorWithCircuits,
};
pub use ports::{MetadataError, MetadataRepo, TimeSeriesError, TimeSeriesSource};
pub use stats::{is_exact_integer, TotalWatts, Usage, UsageStats, MAX_ABS_WATTS};
pub use timestamp::{format_utc, in_supported_range, parse_rfc3339, TimestampError};
pub use usecases::{
    BrandUsage, BucketUsage, CircuitUsage, Demand, EntityRef, Figures, GroupUsage, Insights,
    InsightsError, LocationUsage, OrganizationUsage, PeakDemand, RankedCircuit, Rollup, Scope,
    TooMuchWork, UsageRequest, UsageRequestError, WorkParam, CELLS_PER_CALL, MAX_CELLS_PER_REQUEST,
    MAX_TOP,
};
pub use window::{Bound, Window, WindowError, DEFAULT_MAX_WINDOW};
