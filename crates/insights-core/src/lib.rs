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
//! answers every series with the same two samples, a minute apart, and its ranges one window
//! at a time.
//!
//! ```
//! use insights_core::{
//!     parse_rfc3339, DEFAULT_MAX_WINDOW, Extent, InMemoryMetadata, Insights, SeriesKey,
//!     TimeSeriesError, Scope, TimeSeriesSource, UsageRequest, UsageStats, Window,
//! };
//!
//! struct TwoSamples;
//!
//! impl TimeSeriesSource for TwoSamples {
//!     async fn extent(&self, _series: &[SeriesKey]) -> Result<Option<Extent>, TimeSeriesError> {
//!         Ok(None)
//!     }
//!
//!     async fn has_samples_from(
//!         &self,
//!         _series: &[SeriesKey],
//!         _from: time::OffsetDateTime,
//!     ) -> Result<bool, TimeSeriesError> {
//!         Ok(false)
//!     }
//!
//!     async fn window_stats(
//!         &self,
//!         series: &[SeriesKey],
//!         _window: &Window,
//!     ) -> Result<Vec<UsageStats>, TimeSeriesError> {
//!         let minute = time::Duration::minutes(1);
//!         Ok(series.iter().map(|_| UsageStats::of_samples([120.0, 180.0], minute)).collect())
//!     }
//!
//!     // Ranges one window at a time, and combined ranges by merging series here: the
//!     // slow paths, chosen by name.
//!     insights_core::slow_range_stats!(range_stats, combined_range_stats);
//! }
//!
//! let insights = Insights::new(InMemoryMetadata::seed(), TwoSamples);
//! let window = Window::new(
//!     parse_rfc3339("2024-04-01T00:00:00Z")?,
//!     parse_rfc3339("2024-04-01T00:02:00Z")?,
//!     DEFAULT_MAX_WINDOW,
//! )?;
//! let circuit_id = "d36e0c8c-d7d4-5740-88c4-dea626057ff1".parse()?;
//! let request = UsageRequest::window(window);
//! let answer = futures_executor::block_on(insights.circuit_usage(&Scope::All, circuit_id, &request))?;
//!
//! let usage = answer.rollup.total.figures.usage;
//! assert_eq!(answer.entity.sensor.duid.as_str(), "6D12E310B371FCB1");
//! assert_eq!(usage.stats.total().as_integer(), Some(300));
//! assert_eq!(usage.energy_wh, 5.0);
//! assert_eq!(usage.coverage, 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod bucket;
mod catalogue;
mod dynamic;
mod ids;
mod memory;
mod model;
mod ports;
mod stats;
mod timestamp;
mod usecases;
mod window;

// The API, listed: a new `pub` item in a module stays inside the crate until it is named
// here, so the 0.x surface grows only on purpose.
pub use bucket::{
    boundaries, buckets, demand_edges, Bucket, BucketWidth, DemandInterval, TooManyBuckets, Zone,
    MAX_BUCKETS,
};
pub use catalogue::{Catalogue, CatalogueError, CatalogueErrorKind, SEED_TSV, TSV_HEADER};
pub use dynamic::BoxFuture;
pub use ids::{BrandId, CircuitId, Duid, LocationId, OrganizationId, SensorId, SeriesKey};
pub use memory::InMemoryMetadata;
pub use model::{
    Brand, BrandTree, Circuit, CircuitContext, ElectricSensor, Location, LocationSummary,
    LocationTree, Organization, OrganizationNode, OrganizationTree, SensorDetail,
    SensorWithCircuits,
};
pub use ports::{
    combined_range_stats_series_by_series, range_stats_window_by_window, DynMetadataRepo,
    DynTimeSeriesSource, Extent, MetadataError, MetadataRepo, TimeSeriesError, TimeSeriesSource,
    METADATA_REPO_METHODS, TIME_SERIES_SOURCE_METHODS,
};
pub use stats::{
    nominal_interval, sample_parts, EnergyChange, RangeStats, SampleSum, TotalWatts, Usage,
    UsageStats, FALLBACK_INTERVAL, MAX_ABS_WATTS,
};
pub use timestamp::{format_utc, in_supported_range, parse_rfc3339, TimestampError};
pub use usecases::{
    BrandUsage, BucketUsage, CircuitUsage, Comparison, DataRange, Demand, EntityRef, EntityUsage,
    Figures, GroupUsage, Insights, InsightsError, LocationUsage, OrganizationUsage, PartUsage,
    Peak, PeakDemand, RankedCircuit, Rollable, Rollup, Scope, TooMuchWork, UsageRequest,
    UsageRequestBuilder, UsageRequestError, VisibleBrand, VisibleOrganization, WorkParam,
    BASELOAD_INTERVAL, CELLS_PER_CALL, MAX_CELLS_PER_REQUEST, MAX_TOP,
};
pub use window::{Bound, Window, WindowError, DEFAULT_MAX_WINDOW};

/// What the crate's macros name from other crates, so a caller needs no dependency of its
/// own for them; not part of the API.
#[doc(hidden)]
pub mod __macro_support {
    pub use time::OffsetDateTime;
}
