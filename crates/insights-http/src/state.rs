//! The application state that handlers share, and the stores it holds as trait objects,
//! each with its `Operations` for operators.

use std::sync::Arc;

use insights_cache::CachedMetadata;
use insights_core::{
    BoxFuture, Duid, DynMetadataRepo, DynTimeSeriesSource, InMemoryMetadata, Insights,
    MetadataError, MetadataRepo, SeriesKey, TimeSeriesError, TimeSeriesSource,
};
use insights_mockts::{MockTimeSeries, ReloadableTimeSeries};
use insights_pg::{PgMetadata, PgTimeSeries, PoolStatus, ReplicaStatus};
use time::Duration;
use time::OffsetDateTime;

use crate::admission::Admission;
use crate::auth::KeyRing;
use crate::compute::ComputePool;
use crate::metrics::{Metrics, PoolGauges, Snapshot};
use crate::settings::{Limits, Settings};

/// Why a store cannot answer now, in its port's terms.
#[derive(Debug)]
pub enum NotReady {
    /// The metadata store's error.
    Metadata(MetadataError),
    /// The time-series source's error.
    TimeSeries(TimeSeriesError),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::Metadata(error) => error.fmt(f),
            NotReady::TimeSeries(error) => error.fmt(f),
        }
    }
}

/// What an operator needs of a store besides its port: a description for the log, whether
/// it can answer now, and its gauges for `/metrics`. Every store has the defaults.
pub trait Operations: Send + Sync {
    /// A short description for the startup log; it never contains credentials.
    fn describe(&self) -> String;

    /// Whether the store can answer right now. A store that holds its data in memory is
    /// ready once loaded, which it is by the time it exists.
    fn check_ready(&self) -> BoxFuture<'_, Result<(), NotReady>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// The connection pool, for a store that has one.
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }

    /// Cache hits, misses and entries, for a store behind a cache.
    fn cache_stats(&self) -> Option<(u64, u64, usize)> {
        None
    }

    /// Samples and series held in memory, for a source that holds them.
    fn samples_loaded(&self) -> Option<(usize, usize)> {
        None
    }

    /// Where each replica the store reads from stands.
    fn replicas(&self) -> Vec<ReplicaStatus> {
        Vec::new()
    }

    /// How far behind the newest commit an answer may be; `None` for a store whose every
    /// read sees every commit.
    fn staleness_bound(&self) -> Option<std::time::Duration> {
        None
    }
}

impl Operations for InMemoryMetadata {
    fn describe(&self) -> String {
        "embedded catalogue (in memory)".to_owned()
    }
}

impl Operations for CachedMetadata<PgMetadata> {
    fn describe(&self) -> String {
        self.inner().describe().to_owned()
    }

    fn check_ready(&self) -> BoxFuture<'_, Result<(), NotReady>> {
        Box::pin(async move { self.inner().check_ready().await.map_err(NotReady::Metadata) })
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        Some(self.inner().pool_status())
    }

    fn cache_stats(&self) -> Option<(u64, u64, usize)> {
        let stats = self.stats();
        Some((stats.hits, stats.misses, stats.entries))
    }
}

impl Operations for MockTimeSeries {
    fn describe(&self) -> String {
        format!(
            "sample file ({} samples in {} series, in memory)",
            self.n_samples(),
            self.n_series()
        )
    }

    fn samples_loaded(&self) -> Option<(usize, usize)> {
        Some((self.n_samples(), self.n_series()))
    }
}

impl Operations for ReloadableTimeSeries {
    fn describe(&self) -> String {
        format!(
            "{}; SIGHUP reloads it",
            Operations::describe(self.current().as_ref())
        )
    }

    fn samples_loaded(&self) -> Option<(usize, usize)> {
        self.current().samples_loaded()
    }
}

impl Operations for PgTimeSeries {
    fn describe(&self) -> String {
        PgTimeSeries::describe(self).to_owned()
    }

    /// Asks the source for the extent of a series no sensor has (an empty `duid`): one of
    /// its own statements, over `power_samples` and `power_series_intervals`, on its own
    /// pool, so readiness fails when usage requests would, whether the server is unreachable,
    /// refuses the login or the database, or the login lacks its grants. It costs an index
    /// probe per partition.
    fn check_ready(&self) -> BoxFuture<'_, Result<(), NotReady>> {
        Box::pin(async move {
            let nobody = [SeriesKey {
                duid: Duid(String::new()),
                circuit_number: 0,
            }];
            TimeSeriesSource::extent(self, &nobody)
                .await
                .map(|_| ())
                .map_err(NotReady::TimeSeries)
        })
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        Some(PgTimeSeries::pool_status(self))
    }

    fn replicas(&self) -> Vec<ReplicaStatus> {
        PgTimeSeries::replicas(self)
    }

    fn staleness_bound(&self) -> Option<std::time::Duration> {
        PgTimeSeries::staleness_bound(self)
    }
}

/// Where metadata is read from, chosen once at startup: any [`MetadataRepo`] with its
/// [`Operations`]. A new store needs nothing here but its `Operations` impl.
#[derive(Clone)]
pub struct MetadataStore {
    /// The port the use cases call.
    pub repo: Arc<dyn DynMetadataRepo>,
    /// What operators see of it.
    pub ops: Arc<dyn Operations>,
}

impl MetadataStore {
    /// Serves metadata from `store`.
    pub fn new<S: MetadataRepo + Operations + 'static>(store: S) -> MetadataStore {
        let store = Arc::new(store);
        MetadataStore {
            repo: Arc::clone(&store) as Arc<dyn DynMetadataRepo>,
            ops: store,
        }
    }
}

impl std::fmt::Debug for MetadataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.ops.describe())
    }
}

/// What a source that can change under a running service is now.
type Now = Arc<dyn Fn() -> Arc<dyn DynTimeSeriesSource> + Send + Sync>;

/// Where power samples are read from, chosen once at startup: any [`TimeSeriesSource`] with
/// its [`Operations`].
#[derive(Clone)]
pub struct SeriesStore {
    /// The port the use cases call.
    pub source: Arc<dyn DynTimeSeriesSource>,
    /// What operators see of it.
    pub ops: Arc<dyn Operations>,
    /// For a sample file that a reload may replace: the index answers come from now.
    now: Option<Now>,
}

impl SeriesStore {
    /// Serves samples from `source`.
    pub fn new<S: TimeSeriesSource + Operations + 'static>(source: S) -> SeriesStore {
        SeriesStore::shared(Arc::new(source))
    }

    /// Serves samples from `source`, shared with its other users.
    pub fn shared<S: TimeSeriesSource + Operations + 'static>(source: Arc<S>) -> SeriesStore {
        SeriesStore {
            source: Arc::clone(&source) as Arc<dyn DynTimeSeriesSource>,
            ops: source,
            now: None,
        }
    }

    /// Serves samples from a file that a reload may replace, each answer from one index.
    pub fn reloadable(source: Arc<ReloadableTimeSeries>) -> SeriesStore {
        let file = Arc::clone(&source);
        SeriesStore {
            now: Some(Arc::new(move || {
                file.current() as Arc<dyn DynTimeSeriesSource>
            })),
            ..SeriesStore::shared(source)
        }
    }

    /// The source one answer reads all of its samples from: for a file, the index loaded
    /// when the answer starts, which a reload meanwhile does not change.
    pub fn for_one_answer(&self) -> Arc<dyn DynTimeSeriesSource> {
        self.now
            .as_ref()
            .map_or_else(|| Arc::clone(&self.source), |now| now())
    }
}

impl std::fmt::Debug for SeriesStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.ops.describe())
    }
}

/// The use cases over the chosen stores, behind trait objects.
pub type Service = Insights<Arc<dyn DynMetadataRepo>, Arc<dyn DynTimeSeriesSource>>;

impl AppState {
    /// The use cases over the stores, with samples as they are when an answer starts
    /// ([`SeriesStore::for_one_answer`]): every call of one answer reads the same data, and
    /// each series' nominal interval with it.
    pub fn insights_for_one_answer(&self) -> Service {
        Insights::new(
            Arc::clone(&self.metadata.repo),
            self.timeseries.for_one_answer(),
        )
    }
}

/// What every handler can reach.
pub struct AppState {
    /// The use cases over the chosen stores.
    pub insights: Service,
    /// The metadata store, for operators.
    pub metadata: MetadataStore,
    /// The time-series source, for operators.
    pub timeseries: SeriesStore,
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
    /// The slots heavy requests take, and the queue they wait in.
    pub admission: Arc<Admission>,
    /// Each caller's token bucket on the data routes.
    pub rate_limits: crate::ratelimit::RateLimits,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("metadata", &self.metadata)
            .field("timeseries", &self.timeseries)
            .field("max_window", &self.max_window)
            .field("limits", &self.limits)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state with default limits and without API keys.
    pub fn new(metadata: MetadataStore, timeseries: SeriesStore) -> AppState {
        AppState::with_limits(metadata, timeseries, Limits::default())
    }

    /// The state with these limits (which size the compute pool) and without API keys.
    ///
    /// # Panics
    ///
    /// When the compute threads cannot be started; [`AppState::try_with_limits`] says why
    /// instead, as the service's startup does.
    pub fn with_limits(
        metadata: MetadataStore,
        timeseries: SeriesStore,
        limits: Limits,
    ) -> AppState {
        AppState::try_with_limits(metadata, timeseries, limits)
            .unwrap_or_else(|error| panic!("cannot start the compute threads: {error}"))
    }

    /// The state with these limits, or why the compute threads could not be started.
    pub fn try_with_limits(
        metadata: MetadataStore,
        timeseries: SeriesStore,
        limits: Limits,
    ) -> std::io::Result<AppState> {
        let settings = Settings {
            limits,
            ..Settings::default()
        };
        AppState::try_from_settings(metadata, timeseries, &settings, None)
    }

    /// The state as `settings` say, over these stores and with these keys, or why the compute
    /// threads could not be started. Each field is set here, from the settings or new: the
    /// one constructor, so no field of the service's state can keep a default for tests.
    pub fn try_from_settings(
        metadata: MetadataStore,
        timeseries: SeriesStore,
        settings: &Settings,
        keys: Option<KeyRing>,
    ) -> std::io::Result<AppState> {
        let key_rates = keys.as_ref().map(KeyRing::rates).unwrap_or_default();
        if settings.rate_limit.is_some() || key_rates.iter().any(Option::is_some) {
            tracing::info!(default = ?settings.rate_limit, "rate limits are on for /v1/");
        }
        Ok(AppState {
            insights: Insights::new(Arc::clone(&metadata.repo), Arc::clone(&timeseries.source)),
            metadata,
            timeseries,
            max_window: Duration::days(settings.max_window_days),
            limits: settings.limits.clone(),
            keys,
            metrics_require_key: settings.metrics_require_key,
            metrics: Metrics::default(),
            started_at: OffsetDateTime::now_utc(),
            compute: ComputePool::new(settings.limits.compute_threads)?,
            admission: Admission::new(settings.limits.admission()),
            rate_limits: crate::ratelimit::RateLimits::new(settings.rate_limit, &key_rates),
        })
    }

    /// The values `/metrics` reads when scraped.
    pub fn snapshot(&self) -> Snapshot {
        let pools = [
            ("metadata", &self.metadata.ops),
            ("timeseries", &self.timeseries.ops),
        ]
        .into_iter()
        .filter_map(|(name, ops)| Some(pool_gauges(name, ops.pool_status()?)))
        .collect();
        Snapshot {
            pools,
            cache: self.metadata.ops.cache_stats(),
            samples_loaded: self.timeseries.ops.samples_loaded(),
            replicas: self.timeseries.ops.replicas(),
            resident_bytes: crate::metrics::resident_bytes(),
            start_time_s: u64::try_from(self.started_at.unix_timestamp()).unwrap_or_default(),
            admission: self.admission.status(),
            timed_out: self.compute.timed_out(),
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

#[cfg(test)]
mod tests {
    use insights_core::Catalogue;

    use super::*;
    use crate::settings::VARIABLES;

    /// A file of one sample of `watts` at the start of 2024-04-01.
    fn one_sample(path: &std::path::Path, watts: u32) {
        let row = format!(
            r#"[{{"duid":"D","circuit_number":1,"timestamp":"2024-04-01T00:00:00Z","power_watts":{watts}}}]"#
        );
        std::fs::write(path, row).unwrap();
    }

    #[actix_web::test]
    async fn one_answer_reads_one_file_even_when_a_reload_lands_meanwhile() {
        let path = std::env::temp_dir().join(format!(
            "insights-state-one-answer-{}.json",
            std::process::id()
        ));
        one_sample(&path, 100);
        let file = Arc::new(ReloadableTimeSeries::load(&path).unwrap());
        let store = SeriesStore::reloadable(Arc::clone(&file));
        let series = [insights_core::SeriesKey {
            duid: insights_core::Duid("D".to_owned()),
            circuit_number: 1,
        }];
        let start = time::OffsetDateTime::from_unix_timestamp(1_711_929_600).unwrap();
        let window =
            insights_core::Window::new(start, start + Duration::days(1), Duration::days(1))
                .unwrap();
        let answering = store.for_one_answer();
        one_sample(&path, 200);
        file.reload().unwrap();
        // The answer under way keeps the file it started with; the next one sees the new.
        let mut totals = Vec::new();
        for source in [answering, store.for_one_answer()] {
            let stats = source.window_stats(&series, &window).await.unwrap();
            totals.push(stats[0].total().as_f64());
        }
        assert_eq!(totals, [100.0, 200.0]);
        std::fs::remove_file(&path).unwrap();
    }

    /// Every variable at a value other than its default, so that a field of the state left
    /// at its default, rather than set from the settings, shows.
    fn other_than_the_defaults() -> Vec<(&'static str, String)> {
        let limits = Limits::default();
        let more = |default: usize| (default + 1).to_string();
        let values = [
            ("INSIGHTS_ADDR", "127.0.0.1:9"),
            ("INSIGHTS_TIMESERIES", "other.json"),
            ("INSIGHTS_TIMESERIES_URL", "postgres://db/samples"),
            (
                "INSIGHTS_TIMESERIES_REPLICA_URLS",
                "postgres://replica/samples",
            ),
            ("INSIGHTS_REPLICA_MAX_LAG_MS", "5001"),
            ("INSIGHTS_REPLICA_FALLBACK", "refuse"),
            ("INSIGHTS_CATALOGUE", "catalogue.tsv"),
            ("INSIGHTS_MAX_WINDOW_DAYS", "31"),
            ("DATABASE_URL", "postgres://db/meta"),
            ("INSIGHTS_DB_POOL_SIZE", "3"),
            ("INSIGHTS_DB_CONNECT_TIMEOUT_MS", "501"),
            ("INSIGHTS_DB_WAIT_TIMEOUT_MS", "502"),
            ("INSIGHTS_DB_STATEMENT_TIMEOUT_MS", "1001"),
            ("INSIGHTS_DB_POOLER", "transaction"),
            ("INSIGHTS_CACHE_TTL_S", "61"),
            ("INSIGHTS_CACHE_CAPACITY", "10001"),
            ("INSIGHTS_REQUEST_TIMEOUT_MS", "10001"),
            ("INSIGHTS_MAX_QUERY_BYTES", "2049"),
            ("INSIGHTS_MAX_CONNECTIONS", "4097"),
            ("INSIGHTS_WORKERS", &more(limits.workers)),
            ("INSIGHTS_CLIENT_TIMEOUT_S", "6"),
            ("INSIGHTS_COMPUTE_THREADS", &more(limits.compute_threads)),
            ("INSIGHTS_COMPUTE_SLOTS", &more(limits.compute_slots)),
            ("INSIGHTS_QUEUE_CAPACITY", &more(limits.queue_capacity)),
            ("INSIGHTS_QUEUE_TARGET_MS", "101"),
            ("INSIGHTS_ANSWER_BUDGET_MIB", "33"),
            ("INSIGHTS_LIGHT_WORK", "513"),
            ("INSIGHTS_KEEP_ALIVE_S", "6"),
            ("INSIGHTS_SHUTDOWN_TIMEOUT_S", "31"),
            ("INSIGHTS_API_KEYS_FILE", "keys"),
            ("INSIGHTS_METRICS_REQUIRE_KEY", "false"),
            ("INSIGHTS_RATE_LIMIT", "20/40"),
            ("INSIGHTS_LOG_FORMAT", "json"),
            ("RUST_LOG", "debug"),
        ];
        values
            .map(|(name, value)| (name, value.to_owned()))
            .to_vec()
    }

    fn read(values: &[(&'static str, String)]) -> Settings {
        Settings::from_lookup(|key| {
            let value = values.iter().find(|(name, _)| *name == key);
            value.map(|(_, value)| value.clone())
        })
        .unwrap()
    }

    #[test]
    fn the_test_values_differ_from_every_default() {
        let values = other_than_the_defaults();
        for variable in VARIABLES.iter() {
            let value = values.iter().find(|(name, _)| *name == variable.name);
            let value = value.unwrap_or_else(|| panic!("{} has no test value", variable.name));
            assert_ne!(
                read(std::slice::from_ref(value)),
                Settings::default(),
                "{value:?}"
            );
        }
    }

    #[test]
    fn the_state_is_built_from_every_setting() {
        let settings = read(&other_than_the_defaults());
        let state = AppState::try_from_settings(
            MetadataStore::new(InMemoryMetadata::new(&Catalogue::seed())),
            SeriesStore::new(MockTimeSeries::from_reader(&b"[]"[..]).unwrap()),
            &settings,
            None,
        )
        .unwrap();
        assert_eq!(state.max_window, Duration::days(31));
        assert_eq!(state.limits, settings.limits);
        assert_eq!(state.compute.threads(), settings.limits.compute_threads);
        assert_eq!(state.admission.limits(), settings.limits.admission());
        assert!(!state.metrics_require_key);
        let rate_limits = format!("{:?}", state.rate_limits);
        assert_eq!(
            rate_limits,
            format!(
                "RateLimits {{ default: {:?}, keys: 0 }}",
                settings.rate_limit
            )
        );
    }
}
