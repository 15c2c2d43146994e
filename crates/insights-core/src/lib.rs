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
//! assert_eq!(answer.context.sensor.duid.as_str(), "6D12E310B371FCB1");
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

// Every public item of every module is part of the API, so the re-exports follow from the
// modules rather than from a list that a new item could be left out of.
pub use bucket::*;
pub use catalogue::*;
pub use dynamic::*;
pub use ids::*;
pub use memory::*;
pub use model::*;
pub use ports::*;
pub use stats::*;
pub use timestamp::*;
pub use usecases::*;
pub use window::*;

/// What the crate's macros name from other crates, so a caller needs no dependency of its
/// own for them; not part of the API.
#[doc(hidden)]
pub mod __macro_support {
    pub use time::OffsetDateTime;
}
