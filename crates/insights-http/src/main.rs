//! The Insights Service binary: reads the settings, loads the data, serves the API.

use std::net::TcpListener;

use actix_web::web;
use anyhow::{Context, Result};
use insights_core::{Catalogue, InMemoryMetadata, Insights, MetadataRepo};
use insights_http::{openapi, AppState, MetadataStore, Settings};
use insights_pg::{CachedMetadata, PgMetadata};
use tracing_subscriber::EnvFilter;

#[actix_web::main]
async fn main() -> Result<()> {
    // A missing .env is normal; the environment alone is enough.
    let _ = dotenvy::dotenv();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let settings = Settings::from_lookup(|key| std::env::var(key).ok())
        .context("failed to read the configuration")?;
    tracing::info!(?settings, "starting");

    let started = std::time::Instant::now();
    let timeseries =
        insights_http::load_timeseries(&settings.timeseries_path).with_context(|| {
            format!(
                "failed to load the time series from {}",
                settings.timeseries_path.display()
            )
        })?;
    let rss = resident_bytes();
    tracing::info!(
        samples = timeseries.n_samples(),
        series = timeseries.n_series(),
        index_bytes_per_sample =
            timeseries.heap_bytes() as f64 / timeseries.n_samples().max(1) as f64,
        rss_mib = rss.map(|bytes| bytes / (1 << 20)),
        interval_s = timeseries_interval_seconds(&timeseries),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "time series loaded"
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
            let store = MetadataStore::Embedded(Box::new(InMemoryMetadata::new(&catalogue)));
            tracing::info!(store = %store.describe(), "metadata store: the embedded catalogue, because DATABASE_URL is not set");
            store
        }
        Some(config) => {
            let store = PgMetadata::new(config)
                .context("failed to set up the metadata store from DATABASE_URL")?;
            let store = MetadataStore::Postgres(CachedMetadata::new(
                store,
                settings.cache_ttl,
                settings.cache_capacity,
            ));
            tracing::info!(store = %store.describe(), "metadata store: PostgreSQL, from DATABASE_URL");
            store
        }
    };
    match metadata.circuit_series().await {
        Ok(referenced) => {
            let unreferenced = timeseries.unreferenced(&referenced);
            let samples: usize = unreferenced.iter().map(|(_, n_samples)| n_samples).sum();
            tracing::info!(
                series = unreferenced.len(),
                samples,
                "series that no circuit references are loaded but ignored"
            );
        }
        Err(error) => tracing::warn!(%error, "could not check which series circuits reference"),
    }

    let state = web::Data::new(AppState {
        insights: Insights::new(metadata, std::sync::Arc::new(timeseries)),
        max_window: settings.max_window,
    });
    let docs = web::Data::new(openapi::documents());
    let listener = TcpListener::bind(settings.addr)
        .with_context(|| format!("failed to bind {}", settings.addr))?;
    tracing::info!(addr = %settings.addr, "serving; API docs at /docs");
    insights_http::run(listener, state, docs)
        .context("failed to start the server")?
        .await
        .context("failed while serving")
}

fn timeseries_interval_seconds(timeseries: &insights_mockts::MockTimeSeries) -> f64 {
    insights_core::TimeSeriesSource::nominal_interval(timeseries).as_seconds_f64()
}

/// The process's resident memory, from /proc on Linux; `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
