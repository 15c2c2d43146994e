//! The ports as trait objects. `MetadataRepo` and `TimeSeriesSource` return `impl Future`,
//! which keeps them free of allocation but out of `dyn`. Their boxed twins here have a
//! blanket impl for every implementation, and `dyn` twins implement the ports again, so an
//! application can hold `Arc<dyn DynMetadataRepo>` and `Arc<dyn DynTimeSeriesSource>`, pick
//! its stores at run time, and still call the use cases on them, with no dispatch enum.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::ids::{BrandId, CircuitId, LocationId, OrganizationId, SensorId, SeriesKey};
use crate::model::{
    Brand, BrandTree, CircuitContext, LocationSummary, OrganizationTree, SensorDetail,
};
use crate::ports::{Extent, MetadataError, MetadataRepo, TimeSeriesError, TimeSeriesSource};
use crate::stats::UsageStats;
use crate::window::Window;

/// A future on the heap, as trait objects return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`MetadataRepo`] with boxed futures, so it can be a trait object; every `MetadataRepo` is
/// one.
pub trait DynMetadataRepo: Send + Sync {
    /// [`MetadataRepo::circuit`].
    fn circuit_boxed(
        &self,
        id: CircuitId,
    ) -> BoxFuture<'_, Result<Option<Arc<CircuitContext>>, MetadataError>>;
    /// [`MetadataRepo::organization`].
    fn organization_boxed(
        &self,
        id: OrganizationId,
    ) -> BoxFuture<'_, Result<Option<Arc<OrganizationTree>>, MetadataError>>;
    /// [`MetadataRepo::sensor`].
    fn sensor_boxed(
        &self,
        id: SensorId,
    ) -> BoxFuture<'_, Result<Option<Arc<SensorDetail>>, MetadataError>>;
    /// [`MetadataRepo::location`].
    fn location_boxed(
        &self,
        id: LocationId,
    ) -> BoxFuture<'_, Result<Option<Arc<LocationSummary>>, MetadataError>>;
    /// [`MetadataRepo::brand`].
    fn brand_boxed(
        &self,
        id: BrandId,
    ) -> BoxFuture<'_, Result<Option<Arc<BrandTree>>, MetadataError>>;
    /// [`MetadataRepo::circuit_series`].
    fn circuit_series_boxed(&self) -> BoxFuture<'_, Result<Vec<SeriesKey>, MetadataError>>;
    /// [`MetadataRepo::brands`].
    fn brands_boxed(&self) -> BoxFuture<'_, Result<Vec<Brand>, MetadataError>>;
}

impl<T: MetadataRepo> DynMetadataRepo for T {
    fn circuit_boxed(
        &self,
        id: CircuitId,
    ) -> BoxFuture<'_, Result<Option<Arc<CircuitContext>>, MetadataError>> {
        Box::pin(self.circuit(id))
    }

    fn organization_boxed(
        &self,
        id: OrganizationId,
    ) -> BoxFuture<'_, Result<Option<Arc<OrganizationTree>>, MetadataError>> {
        Box::pin(self.organization(id))
    }

    fn sensor_boxed(
        &self,
        id: SensorId,
    ) -> BoxFuture<'_, Result<Option<Arc<SensorDetail>>, MetadataError>> {
        Box::pin(self.sensor(id))
    }

    fn location_boxed(
        &self,
        id: LocationId,
    ) -> BoxFuture<'_, Result<Option<Arc<LocationSummary>>, MetadataError>> {
        Box::pin(self.location(id))
    }

    fn brand_boxed(
        &self,
        id: BrandId,
    ) -> BoxFuture<'_, Result<Option<Arc<BrandTree>>, MetadataError>> {
        Box::pin(self.brand(id))
    }

    fn circuit_series_boxed(&self) -> BoxFuture<'_, Result<Vec<SeriesKey>, MetadataError>> {
        Box::pin(self.circuit_series())
    }

    fn brands_boxed(&self) -> BoxFuture<'_, Result<Vec<Brand>, MetadataError>> {
        Box::pin(self.brands())
    }
}

/// A metadata store behind a trait object answers like the store.
impl MetadataRepo for dyn DynMetadataRepo + '_ {
    fn circuit(
        &self,
        id: CircuitId,
    ) -> impl Future<Output = Result<Option<Arc<CircuitContext>>, MetadataError>> + Send {
        self.circuit_boxed(id)
    }

    fn organization(
        &self,
        id: OrganizationId,
    ) -> impl Future<Output = Result<Option<Arc<OrganizationTree>>, MetadataError>> + Send {
        self.organization_boxed(id)
    }

    fn sensor(
        &self,
        id: SensorId,
    ) -> impl Future<Output = Result<Option<Arc<SensorDetail>>, MetadataError>> + Send {
        self.sensor_boxed(id)
    }

    fn location(
        &self,
        id: LocationId,
    ) -> impl Future<Output = Result<Option<Arc<LocationSummary>>, MetadataError>> + Send {
        self.location_boxed(id)
    }

    fn brand(
        &self,
        id: BrandId,
    ) -> impl Future<Output = Result<Option<Arc<BrandTree>>, MetadataError>> + Send {
        self.brand_boxed(id)
    }

    fn circuit_series(&self) -> impl Future<Output = Result<Vec<SeriesKey>, MetadataError>> + Send {
        self.circuit_series_boxed()
    }

    fn brands(&self) -> impl Future<Output = Result<Vec<Brand>, MetadataError>> + Send {
        self.brands_boxed()
    }
}

/// [`TimeSeriesSource`] with boxed futures, so it can be a trait object; every
/// `TimeSeriesSource` is one, with its own `range_stats` and `combined_range_stats` where it
/// has them.
pub trait DynTimeSeriesSource: Send + Sync {
    /// [`TimeSeriesSource::extent`].
    fn extent_boxed<'a>(
        &'a self,
        series: &'a [SeriesKey],
    ) -> BoxFuture<'a, Result<Option<Extent>, TimeSeriesError>>;
    /// [`TimeSeriesSource::window_stats`].
    fn window_stats_boxed<'a>(
        &'a self,
        series: &'a [SeriesKey],
        window: &'a Window,
    ) -> BoxFuture<'a, Result<Vec<UsageStats>, TimeSeriesError>>;
    /// [`TimeSeriesSource::range_stats`].
    fn range_stats_boxed<'a>(
        &'a self,
        series: &'a [SeriesKey],
        edges: &'a [OffsetDateTime],
    ) -> BoxFuture<'a, Result<Vec<Vec<UsageStats>>, TimeSeriesError>>;
    /// [`TimeSeriesSource::combined_range_stats`].
    fn combined_range_stats_boxed<'a>(
        &'a self,
        series: &'a [SeriesKey],
        edges: &'a [OffsetDateTime],
    ) -> BoxFuture<'a, Result<Vec<UsageStats>, TimeSeriesError>>;
}

impl<T: TimeSeriesSource> DynTimeSeriesSource for T {
    fn extent_boxed<'a>(
        &'a self,
        series: &'a [SeriesKey],
    ) -> BoxFuture<'a, Result<Option<Extent>, TimeSeriesError>> {
        Box::pin(self.extent(series))
    }

    fn window_stats_boxed<'a>(
        &'a self,
        series: &'a [SeriesKey],
        window: &'a Window,
    ) -> BoxFuture<'a, Result<Vec<UsageStats>, TimeSeriesError>> {
        Box::pin(self.window_stats(series, window))
    }

    fn range_stats_boxed<'a>(
        &'a self,
        series: &'a [SeriesKey],
        edges: &'a [OffsetDateTime],
    ) -> BoxFuture<'a, Result<Vec<Vec<UsageStats>>, TimeSeriesError>> {
        Box::pin(self.range_stats(series, edges))
    }

    fn combined_range_stats_boxed<'a>(
        &'a self,
        series: &'a [SeriesKey],
        edges: &'a [OffsetDateTime],
    ) -> BoxFuture<'a, Result<Vec<UsageStats>, TimeSeriesError>> {
        Box::pin(self.combined_range_stats(series, edges))
    }
}

/// A time-series source behind a trait object answers like the source.
impl TimeSeriesSource for dyn DynTimeSeriesSource + '_ {
    // `async fn`, so the futures capture the borrowed arguments' lifetimes too.
    async fn extent(&self, series: &[SeriesKey]) -> Result<Option<Extent>, TimeSeriesError> {
        self.extent_boxed(series).await
    }

    async fn window_stats(
        &self,
        series: &[SeriesKey],
        window: &Window,
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        self.window_stats_boxed(series, window).await
    }

    async fn range_stats(
        &self,
        series: &[SeriesKey],
        edges: &[OffsetDateTime],
    ) -> Result<Vec<Vec<UsageStats>>, TimeSeriesError> {
        self.range_stats_boxed(series, edges).await
    }

    async fn combined_range_stats(
        &self,
        series: &[SeriesKey],
        edges: &[OffsetDateTime],
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        self.combined_range_stats_boxed(series, edges).await
    }
}
