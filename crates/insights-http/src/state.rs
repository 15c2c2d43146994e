//! The application state that handlers share, and the choice of metadata store.

use std::sync::Arc;

use insights_core::{
    BrandId, BrandTree, CircuitContext, CircuitId, InMemoryMetadata, Insights, LocationId,
    LocationSummary, MetadataError, MetadataRepo, OrganizationId, OrganizationTree, SensorDetail,
    SensorId, SeriesKey,
};
use insights_core::{TimeSeriesError, TimeSeriesSource, UsageStats, Window};
use insights_mockts::MockTimeSeries;
use insights_pg::{CachedMetadata, PgMetadata, PgTimeSeries, PoolStatus};
use time::Duration;
use time::OffsetDateTime;

use crate::auth::KeyRing;
use crate::compute::ComputePool;
use crate::metrics::{Metrics, PoolGauges, Snapshot};
use crate::settings::Limits;

/// Where metadata is read from; chosen once at startup.
#[derive(Debug)]
pub enum MetadataStore {
    /// The seed catalogue (or another catalogue file) held in memory.
    Embedded(Box<InMemoryMetadata>),
    /// The monolith's PostgreSQL, read through a pool behind a cache.
    Postgres(CachedMetadata<PgMetadata>),
}

impl MetadataStore {
    /// A short description for the startup log; it never contains credentials.
    pub fn describe(&self) -> String {
        match self {
            MetadataStore::Embedded(_) => "embedded catalogue (in memory)".to_owned(),
            MetadataStore::Postgres(store) => store.inner().describe().to_owned(),
        }
    }

    /// Whether the store can answer right now.
    pub async fn check_ready(&self) -> Result<(), MetadataError> {
        match self {
            MetadataStore::Embedded(_) => Ok(()),
            MetadataStore::Postgres(store) => store.inner().check_ready().await,
        }
    }
}

impl MetadataRepo for MetadataStore {
    async fn circuit(&self, id: CircuitId) -> Result<Option<Arc<CircuitContext>>, MetadataError> {
        match self {
            MetadataStore::Embedded(store) => store.circuit(id).await,
            MetadataStore::Postgres(store) => store.circuit(id).await,
        }
    }

    async fn organization(
        &self,
        id: OrganizationId,
    ) -> Result<Option<Arc<OrganizationTree>>, MetadataError> {
        match self {
            MetadataStore::Embedded(store) => store.organization(id).await,
            MetadataStore::Postgres(store) => store.organization(id).await,
        }
    }

    async fn sensor(&self, id: SensorId) -> Result<Option<Arc<SensorDetail>>, MetadataError> {
        match self {
            MetadataStore::Embedded(store) => store.sensor(id).await,
            MetadataStore::Postgres(store) => store.sensor(id).await,
        }
    }

    async fn location(
        &self,
        id: LocationId,
    ) -> Result<Option<Arc<LocationSummary>>, MetadataError> {
        match self {
            MetadataStore::Embedded(store) => store.location(id).await,
            MetadataStore::Postgres(store) => store.location(id).await,
        }
    }

    async fn brand(&self, id: BrandId) -> Result<Option<Arc<BrandTree>>, MetadataError> {
        match self {
            MetadataStore::Embedded(store) => store.brand(id).await,
            MetadataStore::Postgres(store) => store.brand(id).await,
        }
    }

    async fn circuit_series(&self) -> Result<Vec<SeriesKey>, MetadataError> {
        match self {
            MetadataStore::Embedded(store) => store.circuit_series().await,
            MetadataStore::Postgres(store) => store.circuit_series().await,
        }
    }
}

/// Where power samples are read from; chosen once at startup.
#[derive(Debug)]
pub enum SeriesStore {
    /// The sample file, indexed in memory.
    File(Arc<MockTimeSeries>),
    /// The `power_samples` table, aggregated in SQL.
    Postgres(PgTimeSeries),
}

impl SeriesStore {
    /// A short description for the startup log; it never contains credentials.
    pub fn describe(&self) -> String {
        match self {
            SeriesStore::File(source) => format!(
                "sample file ({} samples in {} series, in memory)",
                source.n_samples(),
                source.n_series()
            ),
            SeriesStore::Postgres(source) => source.describe().to_owned(),
        }
    }
}

impl TimeSeriesSource for SeriesStore {
    fn nominal_interval(&self) -> Duration {
        match self {
            SeriesStore::File(source) => source.nominal_interval(),
            SeriesStore::Postgres(source) => source.nominal_interval(),
        }
    }

    async fn window_stats(
        &self,
        series: &[SeriesKey],
        window: &Window,
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        match self {
            SeriesStore::File(source) => source.window_stats(series, window).await,
            SeriesStore::Postgres(source) => source.window_stats(series, window).await,
        }
    }

    async fn range_stats(
        &self,
        series: &[SeriesKey],
        edges: &[OffsetDateTime],
    ) -> Result<Vec<Vec<UsageStats>>, TimeSeriesError> {
        match self {
            SeriesStore::File(source) => source.range_stats(series, edges).await,
            SeriesStore::Postgres(source) => source.range_stats(series, edges).await,
        }
    }
}

/// What every handler can reach.
#[derive(Debug)]
pub struct AppState {
    /// The use cases over the chosen stores.
    pub insights: Insights<MetadataStore, SeriesStore>,
    /// The longest window a request may ask for.
    pub max_window: Duration,
    /// Request and connection limits.
    pub limits: Limits,
    /// The accepted API keys; `None` serves everything to everyone.
    pub keys: Option<KeyRing>,
    /// Whether `/metrics` needs a key when keys are on.
    pub metrics_require_key: bool,
    /// Request counters and latency histograms.
    pub metrics: Metrics,
    /// When the process started, for `process_start_time_seconds`.
    pub started_at: OffsetDateTime,
    /// Where heavy requests run, off the workers that serve connections.
    pub compute: ComputePool,
}

impl AppState {
    /// The state with default limits and without API keys.
    pub fn new(insights: Insights<MetadataStore, SeriesStore>) -> AppState {
        AppState::with_limits(insights, Limits::default())
    }

    /// The state with these limits (which size the compute pool) and without API keys.
    pub fn with_limits(insights: Insights<MetadataStore, SeriesStore>, limits: Limits) -> AppState {
        let compute = ComputePool::new(limits.compute_threads, limits.compute_slots)
            .unwrap_or_else(|error| panic!("cannot start the compute threads: {error}"));
        AppState {
            insights,
            max_window: insights_core::DEFAULT_MAX_WINDOW,
            limits,
            keys: None,
            metrics_require_key: true,
            metrics: Metrics::default(),
            started_at: OffsetDateTime::now_utc(),
            compute,
        }
    }

    /// The values `/metrics` reads when scraped.
    pub fn snapshot(&self) -> Snapshot {
        let mut pools = Vec::new();
        let mut cache = None;
        if let MetadataStore::Postgres(store) = self.insights.metadata() {
            pools.push(pool_gauges("metadata", store.inner().pool_status()));
            let stats = store.stats();
            cache = Some((stats.hits, stats.misses, stats.entries));
        }
        let samples_loaded = match self.insights.timeseries() {
            SeriesStore::File(source) => Some((source.n_samples(), source.n_series())),
            SeriesStore::Postgres(source) => {
                pools.push(pool_gauges("timeseries", source.pool_status()));
                None
            }
        };
        Snapshot {
            pools,
            cache,
            samples_loaded,
            resident_bytes: crate::metrics::resident_bytes(),
            start_time_s: u64::try_from(self.started_at.unix_timestamp()).unwrap_or_default(),
            compute: self.compute.status(),
        }
    }
}

fn pool_gauges(pool: &'static str, status: PoolStatus) -> PoolGauges {
    PoolGauges {
        pool,
        max_size: status.max_size,
        open: status.size,
        idle: status.available,
        waiting: status.waiting,
    }
}
