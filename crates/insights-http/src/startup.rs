//! `Application::build`: the one composition root. From [`Settings`] it builds the key ring,
//! the metadata store and the time-series source, the state, the listener and the server;
//! `main` and the HTTP tests both start the service through it.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::web;
use insights_cache::CachedMetadata;
use insights_core::{Catalogue, CatalogueError, InMemoryMetadata, MetadataRepo};
use insights_mockts::{LoadError, MockTimeSeries, ReloadableTimeSeries};
use insights_pg::{PgMetadata, PgSetupError, PgTimeSeries};

use crate::auth::{KeyFileError, KeyRing};
use crate::settings::{redact_credentials, Redacted, Settings, SettingsError};
use crate::state::{AppState, MetadataStore, SeriesStore};

/// Why the service could not start; each names what to fix.
#[derive(Debug)]
pub enum StartupError {
    /// A file named by the settings could not be read.
    Read {
        /// What the file is for.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The reason.
        error: std::io::Error,
    },
    /// The API key file does not parse.
    KeyFile {
        /// Its path.
        path: PathBuf,
        /// The line at fault.
        error: KeyFileError,
    },
    /// The catalogue file does not parse.
    Catalogue {
        /// Its path.
        path: PathBuf,
        /// What is wrong.
        error: CatalogueError,
    },
    /// The sample file could not be loaded.
    Samples {
        /// Its path.
        path: PathBuf,
        /// What is wrong.
        error: LoadError,
    },
    /// A PostgreSQL store could not be set up.
    Database {
        /// Which store: metadata or time series.
        what: &'static str,
        /// Why.
        error: PgSetupError,
    },
    /// The address could not be bound or served.
    Serve {
        /// The address.
        addr: SocketAddr,
        /// Why.
        error: std::io::Error,
    },
    /// The compute threads for heavy requests could not be started.
    Compute(std::io::Error),
    /// The settings do not hold together.
    Settings(SettingsError),
}

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A path setting may hold a database URL by mistake, password and all, and the errors
        // about the path may repeat it (the sample loader's does); so the whole message is
        // redacted.
        f.write_str(&redact_credentials(&self.unredacted()))
    }
}

impl StartupError {
    fn unredacted(&self) -> String {
        use std::fmt::Write as _;
        let mut text = String::new();
        let f = &mut text;
        let _ = match self {
            StartupError::Read { what, path, error } => {
                write!(f, "failed to read the {what} {}: {error}", path.display())
            }
            StartupError::KeyFile { path, error } => {
                write!(
                    f,
                    "failed to parse the API key file {}: {error}",
                    path.display()
                )
            }
            StartupError::Catalogue { path, error } => {
                write!(
                    f,
                    "failed to parse the catalogue {}: {error}",
                    path.display()
                )
            }
            StartupError::Samples { path, error } => write!(
                f,
                "failed to load the time series from {}: {error}",
                path.display()
            ),
            StartupError::Database { what, error } => {
                write!(f, "failed to set up the {what} on PostgreSQL: {error}")
            }
            StartupError::Serve { addr, error } => write!(f, "failed to serve on {addr}: {error}"),
            StartupError::Compute(error) => {
                write!(f, "failed to start the compute threads: {error}")
            }
            StartupError::Settings(error) => write!(f, "{error}"),
        };
        text
    }
}

impl std::error::Error for StartupError {}

/// The service, built and listening, not yet awaited.
pub struct Application {
    server: Server,
    addr: SocketAddr,
}

impl Application {
    /// Builds the whole service from its settings and starts listening.
    pub async fn build(settings: &Settings) -> Result<Application, StartupError> {
        let hangups = listen_for_hangups();
        let keys = key_ring(settings)?;
        let (timeseries, file_source) = series_store(settings).await?;
        tracing::info!(
            source = %timeseries.ops.describe(),
            "time-series source selected"
        );
        let metadata = metadata_store(settings)?;
        if let Some(source) = &file_source {
            // In the background: the metadata database may be down or slow at start, and the
            // service starts anyway, answering 503 until it is back.
            let (reported, current) = (metadata.clone(), source.current());
            actix_web::rt::spawn(async move { report_unreferenced(&reported, &current).await });
        }
        answer_hangups(hangups, file_source, metadata.clone());
        let state = AppState::try_from_settings(metadata, timeseries, settings, keys)
            .map_err(StartupError::Compute)?;
        let state = web::Data::new(state);
        let serve_error = |error| StartupError::Serve {
            addr: settings.addr,
            error,
        };
        let listener = TcpListener::bind(settings.addr).map_err(serve_error)?;
        // The bound address, not the setting: port 0 picks a free port.
        let addr = listener.local_addr().map_err(serve_error)?;
        let docs = web::Data::new(crate::openapi::documents());
        let server = crate::run(listener, state, docs).map_err(serve_error)?;
        tracing::info!(%addr, "serving; API docs at /docs");
        Ok(Application { server, addr })
    }

    /// Where the service listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server, for tests and embedders.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or SIGINT (or the handle) stops the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn key_ring(settings: &Settings) -> Result<Option<KeyRing>, StartupError> {
    let Some(path) = &settings.api_keys_file else {
        tracing::info!("API keys are off: every caller sees everything");
        return Ok(None);
    };
    let text = std::fs::read_to_string(path).map_err(|error| StartupError::Read {
        what: "API key file",
        path: path.clone(),
        error,
    })?;
    let keys = KeyRing::parse(&text).map_err(|error| StartupError::KeyFile {
        path: path.clone(),
        error,
    })?;
    tracing::info!(
        keys = keys.len(),
        metrics_require_key = settings.metrics_require_key,
        "API keys are on"
    );
    Ok(Some(keys))
}

/// The time-series source, and the file source by its type when it is one.
async fn series_store(
    settings: &Settings,
) -> Result<(SeriesStore, Option<Arc<ReloadableTimeSeries>>), StartupError> {
    match settings
        .timeseries_database()
        .map_err(StartupError::Settings)?
    {
        None => {
            if settings.timeseries_replica_urls.is_some() {
                return Err(StartupError::Settings(SettingsError {
                    variable: "INSIGHTS_TIMESERIES_REPLICA_URLS",
                    reason: "is set, but INSIGHTS_TIMESERIES is not postgres: replicas serve the PostgreSQL source only".to_owned(),
                }));
            }
            let source = Arc::new(load_file(settings)?);
            Ok((SeriesStore::reloadable(Arc::clone(&source)), Some(source)))
        }
        Some(config) => {
            let replicas = settings.timeseries_replicas();
            let source = PgTimeSeries::connect_with_replicas(&config, &replicas)
                .await
                .map_err(|error| StartupError::Database {
                    what: "time-series source",
                    error,
                })?;
            for replica in source.replicas() {
                tracing::info!(
                    replica = %replica.replica,
                    in_rotation = replica.in_rotation,
                    reason = replica.reason.as_deref().unwrap_or(""),
                    max_lag_ms = replicas.max_lag.as_millis() as u64,
                    fallback = ?replicas.when_none,
                    "samples are read from a replica while it keeps up"
                );
            }
            Ok((SeriesStore::new(source), None))
        }
    }
}

fn metadata_store(settings: &Settings) -> Result<MetadataStore, StartupError> {
    let Some(config) = settings.database() else {
        let catalogue = match &settings.catalogue_path {
            None => Catalogue::seed(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| StartupError::Read {
                    what: "catalogue",
                    path: path.clone(),
                    error,
                })?;
                Catalogue::parse_tsv(&text).map_err(|error| StartupError::Catalogue {
                    path: path.clone(),
                    error,
                })?
            }
        };
        let store = MetadataStore::new(InMemoryMetadata::new(&catalogue));
        tracing::info!(store = %store.ops.describe(), "metadata store: the embedded catalogue, because DATABASE_URL is not set");
        return Ok(store);
    };
    let store = PgMetadata::new(&config).map_err(|error| StartupError::Database {
        what: "metadata store",
        error,
    })?;
    let store = MetadataStore::new(CachedMetadata::new(
        store,
        settings.cache_ttl,
        settings.cache_capacity,
    ));
    tracing::info!(store = %store.ops.describe(), "metadata store: PostgreSQL, from DATABASE_URL");
    Ok(store)
}

/// Logs how many loaded series no circuit references: they cost memory and answer nothing.
async fn report_unreferenced(metadata: &MetadataStore, source: &MockTimeSeries) {
    match metadata.repo.circuit_series().await {
        Ok(referenced) => {
            let unreferenced = source.unreferenced(&referenced);
            let samples: usize = unreferenced.iter().map(|(_, n_samples)| n_samples).sum();
            tracing::info!(
                series = unreferenced.len(),
                samples,
                "series that no circuit references are loaded but ignored"
            );
        }
        Err(error) => tracing::warn!(%error, "could not check which series circuits reference"),
    }
}

/// Loads the sample file and logs what it cost.
fn load_file(settings: &Settings) -> Result<ReloadableTimeSeries, StartupError> {
    let started = std::time::Instant::now();
    let source = ReloadableTimeSeries::load(&settings.timeseries_path).map_err(|error| {
        StartupError::Samples {
            path: settings.timeseries_path.clone(),
            error,
        }
    })?;
    log_loaded(&source.current(), started, "time series loaded");
    Ok(source)
}

/// Logs a load of the sample file: its size, its index's bytes a sample, RSS and the time.
fn log_loaded(source: &MockTimeSeries, started: std::time::Instant, message: &str) {
    tracing::info!(
        samples = source.n_samples(),
        series = source.n_series(),
        index_bytes_per_sample = source.heap_bytes() as f64 / source.n_samples().max(1) as f64,
        rss_mib = crate::metrics::resident_bytes().map(|bytes| bytes / (1 << 20)),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "{message}"
    );
}

/// SIGHUP as a stream, or nothing where there is none. Listening replaces the default
/// action, which would end the process, so [`Application::build`] starts listening before
/// anything slow: a SIGHUP sent while the sample file loads, or to a service that reads
/// PostgreSQL, is answered, not fatal.
#[cfg(unix)]
fn listen_for_hangups() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{signal, SignalKind};
    signal(SignalKind::hangup())
        .inspect_err(|error| {
            tracing::error!(%error, "cannot listen for SIGHUP; restart the service to load a new sample file");
        })
        .ok()
}

/// Reloads the sample file on every SIGHUP, one reload at a time (signals that arrive during
/// one are answered by one more), off the workers that serve requests. A file that does not
/// load leaves the service answering from the previous one. Without a file source there is
/// nothing to reload, and a SIGHUP is logged and otherwise ignored.
#[cfg(unix)]
fn answer_hangups(
    hangups: Option<tokio::signal::unix::Signal>,
    source: Option<Arc<ReloadableTimeSeries>>,
    metadata: MetadataStore,
) {
    let Some(mut hangups) = hangups else {
        return;
    };
    actix_web::rt::spawn(async move {
        while hangups.recv().await.is_some() {
            let Some(source) = &source else {
                tracing::info!(
                    "SIGHUP: nothing to reload, as the time series are read from PostgreSQL"
                );
                continue;
            };
            let started = std::time::Instant::now();
            let reloading = Arc::clone(source);
            match tokio::task::spawn_blocking(move || reloading.reload()).await {
                Ok(Ok(fresh)) => {
                    log_loaded(&fresh, started, "time series reloaded on SIGHUP");
                    report_unreferenced(&metadata, &fresh).await;
                }
                Ok(Err(error)) => tracing::error!(
                    path = %Redacted(source.path()),
                    error = %redact_credentials(&error.to_string()),
                    "the sample file did not reload; still answering from the one loaded before"
                ),
                Err(error) => tracing::error!(
                    %error,
                    "reloading the sample file panicked; still answering from the one loaded before"
                ),
            }
        }
    });
}

#[cfg(not(unix))]
fn listen_for_hangups() -> Option<()> {
    None
}

#[cfg(not(unix))]
fn answer_hangups(
    _hangups: Option<()>,
    source: Option<Arc<ReloadableTimeSeries>>,
    _metadata: MetadataStore,
) {
    if source.is_some() {
        tracing::info!("no SIGHUP on this platform: restart the service to load a new sample file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(error: StartupError, expected: &str) {
        assert_eq!(error.to_string(), expected);
    }

    #[test]
    fn a_url_given_as_a_path_is_printed_without_its_password() {
        let url = || PathBuf::from("postgres://reader:s3cret@db/insights");
        check(
            StartupError::Read {
                what: "API key file",
                path: url(),
                error: std::io::ErrorKind::NotFound.into(),
            },
            "failed to read the API key file postgres://<redacted>@db/insights: entity not found",
        );
        check(
            StartupError::KeyFile {
                path: url(),
                error: KeyFileError {
                    line: 0,
                    reason: "holds no keys".to_owned(),
                },
            },
            "failed to parse the API key file postgres://<redacted>@db/insights: holds no keys",
        );
        // The loader's own message repeats the path.
        let error = MockTimeSeries::from_path(&url()).unwrap_err();
        check(
            StartupError::Samples { path: url(), error },
            "failed to load the time series from postgres://<redacted>@db/insights: failed to read the sample file: postgres://<redacted>@db/insights: No such file or directory (os error 2)",
        );
        check(
            StartupError::Read {
                what: "catalogue",
                path: PathBuf::from("/etc/insights/catalogue.tsv"),
                error: std::io::ErrorKind::NotFound.into(),
            },
            "failed to read the catalogue /etc/insights/catalogue.tsv: entity not found",
        );
    }
}
