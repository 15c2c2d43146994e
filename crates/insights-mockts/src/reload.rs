//! [`ReloadableTimeSeries`]: the sample file's index behind a swappable pointer, so that an
//! operator can load a new file into a running service (on SIGHUP) without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use insights_core::{
    Extent, RangeStats, SeriesKey, TimeSeriesError, TimeSeriesSource, UsageStats, Window,
};
use time::OffsetDateTime;

use crate::{LoadError, MockTimeSeries};

/// A [`MockTimeSeries`] loaded from a path, which [`ReloadableTimeSeries::reload`] replaces
/// with a fresh load of the same path.
///
/// Each call of the port answers from the index current when it starts, so a call never sees
/// half of one file and half of another. An answer that makes several calls (a part's
/// statistics, then its buckets) takes them all from one index by calling
/// [`ReloadableTimeSeries::current`] once and asking that (the service does). A
/// new file is read and indexed before it replaces the old one: a file that does not load
/// changes nothing, and while a reload runs, both indexes are in memory (the old one until
/// the last call using it returns).
#[derive(Debug)]
pub struct ReloadableTimeSeries {
    path: PathBuf,
    current: RwLock<Arc<MockTimeSeries>>,
    // Reloads take turns, so that at most one new index is being built at a time: two
    // overlapping reloads would otherwise hold three indexes at once.
    reloading: Mutex<()>,
}

impl ReloadableTimeSeries {
    /// Loads and indexes the sample file at `path`, remembering the path for reloads.
    pub fn load(path: impl Into<PathBuf>) -> Result<ReloadableTimeSeries, LoadError> {
        let path = path.into();
        let first = MockTimeSeries::from_path(&path)?;
        Ok(ReloadableTimeSeries {
            path,
            current: RwLock::new(Arc::new(first)),
            reloading: Mutex::new(()),
        })
    }

    /// The file this source loads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The index answers come from now.
    pub fn current(&self) -> Arc<MockTimeSeries> {
        // A poisoned lock only means a panic elsewhere while it was held; the pointer inside
        // is always a whole index, because it is replaced in one write.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Loads the file again and, if it loads, answers from it from now on. Returns the new
    /// index; on an error the old one stays.
    ///
    /// This reads and indexes the whole file on the calling thread, so an async caller runs it
    /// where blocking is allowed.
    pub fn reload(&self) -> Result<Arc<MockTimeSeries>, LoadError> {
        let _turn = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let fresh = Arc::new(MockTimeSeries::from_path(&self.path)?);
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(PoisonError::into_inner),
            Arc::clone(&fresh),
        );
        // Freed here, outside the lock and on the reloading thread, when no answer still
        // holds it: freeing an index of millions of samples takes a while.
        drop(old);
        Ok(fresh)
    }
}

impl TimeSeriesSource for ReloadableTimeSeries {
    async fn extent(&self, series: &[SeriesKey]) -> Result<Option<Extent>, TimeSeriesError> {
        self.current().extent(series).await
    }

    async fn has_samples_from(
        &self,
        series: &[SeriesKey],
        from: OffsetDateTime,
    ) -> Result<bool, TimeSeriesError> {
        self.current().has_samples_from(series, from).await
    }

    async fn window_stats(
        &self,
        series: &[SeriesKey],
        window: &Window,
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        self.current().window_stats(series, window).await
    }

    async fn range_stats(
        &self,
        series: &[SeriesKey],
        edges: &[OffsetDateTime],
    ) -> Result<RangeStats, TimeSeriesError> {
        self.current().range_stats(series, edges).await
    }

    async fn combined_range_stats(
        &self,
        series: &[SeriesKey],
        edges: &[OffsetDateTime],
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        self.current().combined_range_stats(series, edges).await
    }
}
