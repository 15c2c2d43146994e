//! `import` and `rollup`: samples into PostgreSQL, from a file in one transaction or from
//! standard input in batches, and the rollups checked or recomputed.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use insights_core::SeriesKey;
use insights_pg::{ImportReport, Importer};

/// The database `import` and `rollup` write to.
pub fn database_url() -> Result<String> {
    std::env::var("INSIGHTS_TIMESERIES_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .context(
            "failed to read INSIGHTS_TIMESERIES_URL or DATABASE_URL, which import and rollup use",
        )
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start a runtime")
}

/// Imports a sample file in one transaction: the file source reads and checks it (duplicates
/// included), the PostgreSQL adapter imports it with its rollups.
pub fn import_file(path: &Path, url: &str) -> Result<ImportReport> {
    let started = Instant::now();
    let source = insights_mockts::MockTimeSeries::from_path(path)
        .with_context(|| format!("failed to load {}", path.display()))?;
    let samples = source
        .samples()
        .map(|(key, at, watts)| (key.clone(), at, watts));
    let report = runtime()?
        .block_on(insights_pg::import(url, samples))
        .with_context(|| format!("failed to import {}", path.display()))?;
    print_report(&path.display().to_string(), &report, started.elapsed());
    Ok(report)
}

fn print_report(what: &str, report: &ImportReport, took: Duration) {
    println!(
        "imported {what}: {} samples offered, {} new, {} already there; {} series-days rolled up; nominal interval {} s; {:.1} s, {:.0} samples/s",
        report.offered,
        report.inserted,
        report.offered - report.inserted,
        report.days_rolled_up,
        report.interval.as_seconds_f64(),
        took.as_secs_f64(),
        report.offered as f64 / took.as_secs_f64().max(1e-9),
    );
}

/// Imports rows from standard input as they arrive: a batch commits, with its rollups, when
/// it holds `batch_rows` rows or `batch_wait` has passed since its first row, and at the end.
/// A bad row stops the import: every row before it is imported, and the error names it.
pub fn import_stream(url: &str, batch_rows: usize, batch_wait: Duration) -> Result<()> {
    let (sender, receiver) = mpsc::sync_channel::<(SeriesKey, i64, f64)>(batch_rows);
    let reader = std::thread::spawn(move || {
        insights_mockts::stream_rows(std::io::stdin().lock(), &mut |key, at, watts| {
            // A closed channel means the importer failed; it reports why.
            let _ = sender.send((key, at, watts));
        })
    });
    let runtime = runtime()?;
    let mut importer = runtime.block_on(Importer::connect(url))?;
    let (mut batches, mut offered, mut inserted) = (0u64, 0u64, 0u64);
    while let Ok(first) = receiver.recv() {
        let deadline = Instant::now() + batch_wait;
        let mut batch = vec![first];
        while batch.len() < batch_rows {
            match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(row) => batch.push(row),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let report = runtime
            .block_on(importer.import(batch.into_iter()))
            .context("failed to import a batch")?;
        batches += 1;
        offered += report.offered;
        inserted += report.inserted;
        eprintln!(
            "batch {batches}: {} rows, {} new, {} series-days rolled up, {:.0} ms",
            report.offered,
            report.inserted,
            report.days_rolled_up,
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    runtime.block_on(importer.close());
    match reader.join() {
        Ok(Ok(_)) => {
            println!("imported standard input: {batches} batches, {offered} samples offered, {inserted} new");
            Ok(())
        }
        Ok(Err(error)) => bail!("stopped at a bad row, after {batches} batches: {error}"),
        Err(_) => bail!("the reader thread panicked"),
    }
}

/// `rollup --verify`: exits non-zero when any rollup row differs from its samples.
pub fn verify(url: &str) -> Result<()> {
    let runtime = runtime()?;
    let started = Instant::now();
    let report = runtime.block_on(async {
        let mut importer = Importer::connect(url).await?;
        let report = importer.verify().await;
        importer.close().await;
        report
    })?;
    for line in &report.mismatches {
        println!("{line}");
    }
    println!(
        "verified {} rollup rows against the samples in {:.1} s: {} wrong",
        report.rows,
        started.elapsed().as_secs_f64(),
        report.n_mismatches
    );
    if report.n_mismatches > 0 {
        bail!(
            "{} rollup rows are wrong; `cargo xtask rollup --rebuild` recomputes them",
            report.n_mismatches
        );
    }
    Ok(())
}

/// `rollup --rebuild [--from T] [--to T]`.
pub fn rebuild(url: &str, from: Option<&str>, to: Option<&str>) -> Result<()> {
    let parse = |text: Option<&str>| -> Result<Option<time::OffsetDateTime>> {
        text.map(|text| {
            insights_core::parse_rfc3339(text)
                .with_context(|| format!("{text} is not an RFC 3339 timestamp"))
        })
        .transpose()
    };
    let (from, to) = (parse(from)?, parse(to)?);
    let runtime = runtime()?;
    let started = Instant::now();
    let days = runtime.block_on(async {
        let mut importer = Importer::connect(url).await?;
        let days = importer.rebuild(from, to).await;
        importer.close().await;
        days
    })?;
    println!(
        "rebuilt the rollups of {days} series-days in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
