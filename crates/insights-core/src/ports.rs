//! The two ports that adapters implement: where metadata comes from and where power samples come from.

use std::fmt;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::dynamic::port;
use crate::ids::{BrandId, CircuitId, LocationId, OrganizationId, SensorId, SeriesKey};
use crate::model::{
    Brand, BrandTree, CircuitContext, LocationSummary, OrganizationTree, SensorDetail,
};
use crate::stats::{RangeStats, UsageStats};
use crate::window::Window;

/// Why the metadata store could not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataError {
    /// The store could not be reached, or did not answer in time; a retry may succeed.
    Unavailable {
        /// What went wrong, for the log; never shown to clients.
        reason: String,
    },
    /// The store answered with data that breaks the hierarchy's rules.
    Inconsistent {
        /// What is wrong, for the log; never shown to clients.
        reason: String,
    },
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetadataError::Unavailable { reason } => {
                write!(f, "metadata store unavailable: {reason}")
            }
            MetadataError::Inconsistent { reason } => {
                write!(f, "metadata store returned inconsistent data: {reason}")
            }
        }
    }
}

impl std::error::Error for MetadataError {}

// Each port is declared once, here: `port!` writes its `Arc` and trait-object forms from
// this list, and lets no method have a default body.
port! {
    /// Reads the metadata hierarchy. Every lookup answers `Ok(None)` for an id that does not
    /// exist.
    ///
    /// Lookups return shared trees so that a store may cache them without copying.
    pub trait MetadataRepo, dyn DynMetadataRepo, methods METADATA_REPO_METHODS {
        /// A circuit with its sensor, location and organization.
        fn circuit<'a>(&'a self, id: CircuitId)
            -> Result<Option<Arc<CircuitContext>>, MetadataError>, boxed as circuit_boxed;

        /// An organization with its brand, all its locations, and their sensors and circuits.
        fn organization<'a>(&'a self, id: OrganizationId)
            -> Result<Option<Arc<OrganizationTree>>, MetadataError>, boxed as organization_boxed;

        /// An electric sensor with its location and circuits.
        fn sensor<'a>(&'a self, id: SensorId)
            -> Result<Option<Arc<SensorDetail>>, MetadataError>, boxed as sensor_boxed;

        /// A location with its organization, sensors and circuits.
        fn location<'a>(&'a self, id: LocationId)
            -> Result<Option<Arc<LocationSummary>>, MetadataError>, boxed as location_boxed;

        /// A brand with its organizations, locations, sensors and circuits.
        fn brand<'a>(&'a self, id: BrandId)
            -> Result<Option<Arc<BrandTree>>, MetadataError>, boxed as brand_boxed;

        /// The series key of every circuit in the store, so that a source can tell which of
        /// its series no circuit references.
        fn circuit_series<'a>(&'a self)
            -> Result<Vec<SeriesKey>, MetadataError>, boxed as circuit_series_boxed;

        /// Every brand, sorted by name then id.
        fn brands<'a>(&'a self) -> Result<Vec<Brand>, MetadataError>, boxed as brands_boxed;
    }
}

/// Why a time-series source could not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeSeriesError {
    /// The source could not be reached, or did not answer in time; a retry may succeed.
    Unavailable {
        /// What went wrong, for the log; never shown to clients.
        reason: String,
    },
    /// The source failed in a way a retry will not fix.
    Failed {
        /// What went wrong, for the log; never shown to clients.
        reason: String,
    },
}

impl fmt::Display for TimeSeriesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeSeriesError::Unavailable { reason } => {
                write!(f, "time-series source unavailable: {reason}")
            }
            TimeSeriesError::Failed { reason } => write!(f, "time-series source failed: {reason}"),
        }
    }
}

impl std::error::Error for TimeSeriesError {}

/// The times of the earliest and the latest sample of a set of series, and the shortest of
/// their nominal intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// The earliest sample's time.
    pub first: OffsetDateTime,
    /// The latest sample's time; equal to `first` when there is one sample.
    pub last: OffsetDateTime,
    /// The shortest nominal interval among the series with samples: the finest spacing the
    /// set's samples have.
    pub interval: Duration,
}

impl Extent {
    /// The extent of both: from the earlier first to the later last, at the shorter interval.
    pub fn merge(self, other: Extent) -> Extent {
        Extent {
            first: self.first.min(other.first),
            last: self.last.max(other.last),
            interval: self.interval.min(other.interval),
        }
    }
}

port! {
    /// Answers statistics over power series.
    ///
    /// Many series are asked for in one call, so that a database-backed source can push the
    /// aggregation down in one round trip. Every source writes every method: one that has no
    /// faster way may answer `range_stats` with [`range_stats_window_by_window`] and
    /// `combined_range_stats` with [`combined_range_stats_series_by_series`], and says so.
    pub trait TimeSeriesSource, dyn DynTimeSeriesSource, methods TIME_SERIES_SOURCE_METHODS {
        /// The earliest and the latest sample time over all the given series; `None` when
        /// none of them has a sample. A source should answer from an index, not by reading the
        /// samples.
        fn extent<'a>(&'a self, series: &'a [SeriesKey])
            -> Result<Option<Extent>, TimeSeriesError>, boxed as extent_boxed;

        /// Whether any of the given series has a sample at or after `from`: whether a window
        /// that ends at `from` is past for them, so that only a late sample can change it. A
        /// source should answer from an index, and stop at the first sample it finds.
        fn has_samples_from<'a>(&'a self, series: &'a [SeriesKey], from: OffsetDateTime)
            -> Result<bool, TimeSeriesError>, boxed as has_samples_from_boxed;

        /// The statistics of each series over the window, in the order the keys were given,
        /// each at the series' own [`crate::nominal_interval`] over all its samples. A series the
        /// source does not know has no samples.
        fn window_stats<'a>(&'a self, series: &'a [SeriesKey], window: &'a Window)
            -> Result<Vec<UsageStats>, TimeSeriesError>, boxed as window_stats_boxed;

        /// The statistics of each series over each range `[edges[i], edges[i + 1])`: one row
        /// per series, in the order the keys were given, each with `edges.len() - 1` entries.
        ///
        /// `edges` are strictly increasing. A source should answer in one pass per series.
        fn range_stats<'a>(&'a self, series: &'a [SeriesKey], edges: &'a [OffsetDateTime])
            -> Result<RangeStats, TimeSeriesError>, boxed as range_stats_boxed;

        /// The statistics of all the given series together over each range
        /// `[edges[i], edges[i + 1])`: `edges.len() - 1` entries, each the merge of every
        /// series' statistics over that range.
        ///
        /// A source that aggregates where the data lives should answer with one figure per
        /// range, not one per series and range, leaving the store.
        fn combined_range_stats<'a>(
            &'a self,
            series: &'a [SeriesKey],
            edges: &'a [OffsetDateTime],
        ) -> Result<Vec<UsageStats>, TimeSeriesError>, boxed as combined_range_stats_boxed;
    }
}

/// Writes, inside an `impl TimeSeriesSource`, methods that take the slow paths by name: a
/// source states its choice in one line rather than copying the bodies.
/// `slow_range_stats!(range_stats, combined_range_stats)` writes both,
/// [`range_stats_window_by_window`] and [`combined_range_stats_series_by_series`];
/// `slow_range_stats!(combined_range_stats)` only the second, for a source with a fast
/// `range_stats` of its own.
#[macro_export]
macro_rules! slow_range_stats {
    ($($method:ident),+) => {
        $($crate::slow_range_stats!(@ $method);)+
    };
    (@ range_stats) => {
        async fn range_stats(
            &self,
            series: &[$crate::SeriesKey],
            edges: &[$crate::__macro_support::OffsetDateTime],
        ) -> ::core::result::Result<$crate::RangeStats, $crate::TimeSeriesError> {
            $crate::range_stats_window_by_window(self, series, edges).await
        }
    };
    (@ combined_range_stats) => {
        async fn combined_range_stats(
            &self,
            series: &[$crate::SeriesKey],
            edges: &[$crate::__macro_support::OffsetDateTime],
        ) -> ::core::result::Result<::std::vec::Vec<$crate::UsageStats>, $crate::TimeSeriesError>
        {
            $crate::combined_range_stats_series_by_series(self, series, edges).await
        }
    };
}

/// [`TimeSeriesSource::range_stats`] from [`TimeSeriesSource::window_stats`], one window
/// query per range: for a source with no faster way, or to measure one against it.
pub async fn range_stats_window_by_window(
    source: &(impl TimeSeriesSource + ?Sized),
    series: &[SeriesKey],
    edges: &[OffsetDateTime],
) -> Result<RangeStats, TimeSeriesError> {
    let mut answer = RangeStats::empty(series.len(), edges.len().saturating_sub(1));
    for (index, pair) in edges.windows(2).enumerate() {
        let Ok(range) = Window::new(pair[0], pair[1], Duration::MAX) else {
            return Err(TimeSeriesError::Failed {
                reason: "range edges must be strictly increasing".to_owned(),
            });
        };
        for (row, stats) in source
            .window_stats(series, &range)
            .await?
            .into_iter()
            .enumerate()
        {
            answer.merge_at(row, index, stats);
        }
    }
    Ok(answer)
}

/// [`TimeSeriesSource::combined_range_stats`] from [`TimeSeriesSource::range_stats`], merging
/// every series' figures here: for a source whose figures are in memory anyway, where merging
/// them costs no more than the store would.
pub async fn combined_range_stats_series_by_series(
    source: &(impl TimeSeriesSource + ?Sized),
    series: &[SeriesKey],
    edges: &[OffsetDateTime],
) -> Result<Vec<UsageStats>, TimeSeriesError> {
    let mut combined = vec![UsageStats::EMPTY; edges.len().saturating_sub(1)];
    for ranges in source.range_stats(series, edges).await?.rows() {
        for (total, stats) in combined.iter_mut().zip(ranges) {
            *total = total.merge(*stats);
        }
    }
    Ok(combined)
}
