//! The Insights Service binary: reads the settings, loads the data, serves the API.

use std::io::IsTerminal;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::web;
use anyhow::{Context, Result};
use insights_core::{Catalogue, InMemoryMetadata, MetadataRepo, TimeSeriesSource};
use insights_http::auth::KeyRing;
use insights_http::{openapi, AppState, LogFormat, MetadataStore, SeriesStore, Settings};
use insights_pg::{CachedMetadata, PgMetadata, PgTimeSeries};
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> Result<()> {
    // A missing .env is normal; the environment alone is enough.
    let _ = dotenvy::dotenv();
    let settings = Settings::from_lookup(|key| std::env::var(key).ok())
        .context("failed to read the configuration")?;
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // The HTTP/1 dispatcher logs a client's malformed request at ERROR ("stream error"); the
    // service answers it with a problem and logs it at WARN itself (`connection.rs`).
    if let Ok(directive) = "actix_http::h1::dispatcher=off".parse() {
        filter = filter.add_directive(directive);
    }
    match settings.log_format {
        // Colour codes only help a person at a terminal; in a log file they are noise.
        LogFormat::Text => tracing_subscriber::fmt()
            .with_ansi(std::io::stdout().is_terminal())
            .with_env_filter(filter)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .init(),
    }
    insights_http::middleware::install_panic_hook();
    tracing::info!(?settings, "starting");
    let keys = match &settings.api_keys_file {
        None => {
            tracing::info!("API keys are off: every caller sees everything");
            None
        }
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read the API key file {}", path.display()))?;
            let keys = KeyRing::parse(&text)
                .with_context(|| format!("failed to parse the API key file {}", path.display()))?;
            tracing::info!(
                keys = keys.len(),
                metrics_require_key = settings.metrics_require_key,
                "API keys are on"
            );
            Some(keys)
        }
    };

    // The file source is kept by its type too, to report the series no circuit references.
    let (timeseries, file_source) = match &settings.timeseries_database {
        None => {
            let source = Arc::new(load_file(&settings)?);
            (SeriesStore::shared(Arc::clone(&source)), Some(source))
        }
        Some(config) => {
            let source = PgTimeSeries::connect(config)
                .await
                .context("failed to set up the time-series source on PostgreSQL")?;
            (SeriesStore::new(source), None)
        }
    };
    tracing::info!(
        source = %timeseries.ops.describe(),
        interval_s = timeseries.source.nominal_interval().as_seconds_f64(),
        "time-series source selected"
    );

    let metadata = match &settings.database {
        None => {
            let catalogue = match &settings.catalogue_path {
                None => Catalogue::seed(),
                Some(path) => {
                    let text = std::fs::read_to_string(path).with_context(|| {
                        format!("failed to read the catalogue {}", path.display())
                    })?;
                    Catalogue::parse_tsv(&text).with_context(|| {
                        format!("failed to parse the catalogue {}", path.display())
                    })?
                }
            };
            let store = MetadataStore::new(InMemoryMetadata::new(&catalogue));
            tracing::info!(store = %store.ops.describe(), "metadata store: the embedded catalogue, because DATABASE_URL is not set");
            store
        }
        Some(config) => {
            let store = PgMetadata::new(config)
                .context("failed to set up the metadata store from DATABASE_URL")?;
            let store = MetadataStore::new(CachedMetadata::new(
                store,
                settings.cache_ttl,
                settings.cache_capacity,
            ));
            tracing::info!(store = %store.ops.describe(), "metadata store: PostgreSQL, from DATABASE_URL");
            store
        }
    };
    if let Some(source) = &file_source {
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

    let state = web::Data::new(AppState {
        max_window: settings.max_window,
        keys,
        metrics_require_key: settings.metrics_require_key,
        ..AppState::with_limits(metadata, timeseries, settings.limits.clone())
    });
    let docs = web::Data::new(openapi::documents());
    let listener = TcpListener::bind(settings.addr)
        .with_context(|| format!("failed to bind {}", settings.addr))?;
    // The bound address, not the setting: port 0 picks a free port, and tests read it here.
    let addr = listener
        .local_addr()
        .context("failed to read the bound address")?;
    tracing::info!(%addr, "serving; API docs at /docs");
    insights_http::run(listener, state, docs)
        .context("failed to start the server")?
        .await
        .context("failed while serving")?;
    tracing::info!("stopped: every in-flight request finished or the shutdown timeout passed");
    Ok(())
}

/// Loads the sample file and logs what it cost.
fn load_file(settings: &Settings) -> Result<insights_mockts::MockTimeSeries> {
    let started = std::time::Instant::now();
    let source = insights_mockts::MockTimeSeries::from_path(&settings.timeseries_path)
        .with_context(|| {
            format!(
                "failed to load the time series from {}",
                settings.timeseries_path.display()
            )
        })?;
    tracing::info!(
        samples = source.n_samples(),
        series = source.n_series(),
        index_bytes_per_sample = source.heap_bytes() as f64 / source.n_samples().max(1) as f64,
        rss_mib = insights_http::metrics::resident_bytes().map(|bytes| bytes / (1 << 20)),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "time series loaded"
    );
    Ok(source)
}
