//! The Insights Service binary: reads the settings, sets up logging, and serves what
//! `Application::build` builds from them; `insights-http healthcheck` probes a running one.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use insights_http::startup::Application;
use insights_http::{LogFormat, Settings};
use tracing_subscriber::EnvFilter;

/// Log lines that may wait for stdout before a worker that logs waits too: about 2 MB, a
/// tenth of a second of request lines at this machine's fastest.
const LOG_LINES_BUFFERED: usize = 8192;

#[actix_web::main]
async fn main() -> Result<()> {
    // Only the working directory's .env, as documented: `dotenvy::dotenv` would also search
    // every parent directory and could apply a file meant for something else. A missing one
    // is normal; one that does not parse is an error, not half applied in silence.
    match dotenvy::from_path(".env") {
        Ok(()) => {}
        Err(error) if error.not_found() => {}
        // dotenvy's own message repeats the whole line, which may hold a password.
        Err(dotenvy::Error::LineParse(line, _)) => {
            let name = line.split('=').next().unwrap_or_default().trim();
            let name = if !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                name
            } else {
                "a variable"
            };
            anyhow::bail!("failed to read .env in the working directory: the line setting {name} does not parse");
        }
        Err(error) => return Err(error).context("failed to read .env in the working directory"),
    }
    let settings = Settings::from_lookup(|key| std::env::var(key).ok())
        .context("failed to read the configuration")?;
    match std::env::args().nth(1).as_deref() {
        None => {}
        // For a container's HEALTHCHECK: exit 0 when this host's service answers /healthz.
        Some("healthcheck") => {
            let addr = insights_http::healthcheck::probe_addr(settings.addr);
            insights_http::healthcheck::probe(addr)
                .with_context(|| format!("the service at {addr} is not healthy"))?;
            return Ok(());
        }
        Some(other) => anyhow::bail!(
            "unknown argument {other:?}: run without arguments to serve, or `healthcheck`"
        ),
    }
    // A RUST_LOG that does not parse counts as unset, as when tracing-subscriber read it.
    let mut filter =
        EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // The HTTP/1 dispatcher logs a client's malformed request at ERROR ("stream error"); the
    // service answers it with a problem and logs it at WARN itself (`connection.rs`).
    if let Ok(directive) = "actix_http::h1::dispatcher=off".parse() {
        filter = filter.add_directive(directive);
    }
    // Lines go to stdout from a thread of their own, in batches: written by the workers, one
    // request's line took a write to stdout and its lock, which the workers contended for,
    // and at the default `info` the service answered a third fewer `/healthz` requests a
    // second than at `warn`. Not lossy: as before, a stdout that does not drain holds the
    // workers up, once LOG_LINES_BUFFERED lines wait. The guard writes what is left when
    // `main` returns, if stdout takes it within about a second (tracing-appender's bound);
    // a process killed outright loses what still waits.
    let (log_writer, _log_flushed_on_drop) =
        tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .buffered_lines_limit(LOG_LINES_BUFFERED)
            .thread_name("insights-log")
            .finish(std::io::BufWriter::new(std::io::stdout()));
    match settings.log_format {
        // Colour codes only help a person at a terminal; in a log file they are noise.
        LogFormat::Text => tracing_subscriber::fmt()
            .with_ansi(std::io::stdout().is_terminal())
            .with_env_filter(filter)
            .with_writer(log_writer)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(log_writer)
            .init(),
    }
    insights_http::middleware::install_panic_hook();
    tracing::info!(?settings, "starting");
    let application = Application::build(&settings).await?;
    application
        .run_until_stopped()
        .await
        .context("failed while serving")?;
    tracing::info!("stopped: every in-flight request finished or the shutdown timeout passed");
    Ok(())
}
