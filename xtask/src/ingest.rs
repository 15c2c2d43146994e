//! `import` and `rollup`: samples into PostgreSQL, from a file in one transaction or from
//! standard input in batches, and the rollups checked or recomputed.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use insights_core::SeriesKey;
use insights_pg::{ImportError, ImportReport, Importer, LATE_SERIES_DAYS_AT_ONCE};

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

/// Where `import` reads rows from, and how it cuts them into transactions.
pub struct Input {
    /// A file, or standard input when `None`.
    pub file: Option<std::path::PathBuf>,
    /// The most rows in one transaction; a file is one transaction, however long.
    pub batch_rows: usize,
    /// How long after its first row a batch commits at the latest.
    pub batch_wait: Duration,
}

type Row = Result<(SeriesKey, i64, f64), ImportError>;

/// Imports rows as they are read, with their rollups: a thread parses while the database
/// writes. A batch commits when it holds `batch_rows` rows, when `batch_wait` has passed since
/// its first row, or at the end. Rows repeating a (series, instant) already stored, or earlier
/// in their batch, are skipped. A bad row rolls its batch back and stops the import with the
/// row's index; earlier batches stay committed, so a file, one batch, is all or nothing.
pub fn import(input: &Input, url: &str) -> Result<ImportReport> {
    let what = input
        .file
        .as_ref()
        .map_or("standard input".to_owned(), |path| {
            path.display().to_string()
        });
    // A file's bytes are its progress; standard input's batches report themselves.
    let (reader, progress): (Box<dyn std::io::Read + Send>, _) = match &input.file {
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("failed to open {what}"))?;
            let length = file.metadata().map_or(0, |metadata| metadata.len());
            let progress = crate::progress::bytes(&format!("importing {what}"), length);
            (Box::new(progress.wrap_read(file)), progress)
        }
        None => (Box::new(std::io::stdin()), indicatif::ProgressBar::hidden()),
    };
    let (sender, receiver) = mpsc::sync_channel::<Row>(1 << 16);
    let read_all = progress.clone();
    std::thread::spawn(move || {
        let mut on_row = |key, at, watts| {
            // A closed channel means the importer failed; it reports why.
            let _ = sender.send(Ok((key, at, watts)));
        };
        if let Err(error) = insights_mockts::stream_rows(reader, &mut on_row) {
            let _ = sender.send(Err(ImportError::Input(error.to_string())));
        }
        // What remains is the last batch's rollups, of unknown length.
        crate::progress::then(&read_all, "rolling up and settling the samples");
    });
    // Two workers: the connection's driver runs while the batch's iterator waits for rows.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start a runtime")?;
    let started = Instant::now();
    let mut importer = runtime.block_on(Importer::connect(url))?;
    let mut total = ImportReport {
        offered: 0,
        inserted: 0,
        days_rolled_up: 0,
        late_deferred: 0,
        series_measured: 0,
    };
    let mut batches = 0u64;
    // Late samples wait in power_rollup_late until their days' longer rows are rewritten, a
    // transaction of that (about a second) at a time: one after each batch that leaves some
    // waiting, so the backlog shrinks however busy the input, and more whenever no row is
    // waiting to be imported; the rest before the import returns. A stream's next batch waits
    // for one at most. A backlog an earlier import left is settled too.
    let mut late_waiting = true;
    let mut series_days_settled = 0u64;
    let mut settle_some = |importer: &mut Importer| -> Result<bool> {
        let settled = runtime
            .block_on(importer.settle_late(LATE_SERIES_DAYS_AT_ONCE))
            .context("failed to settle late samples")?;
        series_days_settled += settled.series_days;
        Ok(settled.waiting)
    };
    loop {
        let first = if late_waiting {
            match receiver.try_recv() {
                Ok(row) => row,
                Err(mpsc::TryRecvError::Empty) => {
                    late_waiting = settle_some(&mut importer)?;
                    continue;
                }
                Err(mpsc::TryRecvError::Disconnected) => break,
            }
        } else {
            match receiver.recv() {
                Ok(row) => row,
                Err(mpsc::RecvError) => break,
            }
        };
        let batch_started = Instant::now();
        // A wait too long to add to the clock never ends the batch.
        let deadline = batch_started.checked_add(input.batch_wait);
        let mut first = Some(first);
        let mut taken = 0usize;
        let rows = std::iter::from_fn(|| {
            if let Some(row) = first.take() {
                taken += 1;
                return Some(row);
            }
            if taken >= input.batch_rows {
                return None;
            }
            let row = match deadline {
                Some(deadline) => receiver
                    .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                    .ok()?,
                None => receiver.recv().ok()?,
            };
            taken += 1;
            Some(row)
        });
        let report = runtime
            .block_on(importer.import_fallible(rows))
            .with_context(|| {
                format!("failed to import {what} (after {batches} committed batches)")
            })?;
        batches += 1;
        total.offered += report.offered;
        total.inserted += report.inserted;
        total.days_rolled_up += report.days_rolled_up;
        total.late_deferred += report.late_deferred;
        total.series_measured += report.series_measured;
        if input.file.is_none() {
            eprintln!(
                "batch {batches}: {} rows, {} new, {} series-days rolled up, {} late samples deferred, {:.0} ms",
                report.offered,
                report.inserted,
                report.days_rolled_up,
                report.late_deferred,
                batch_started.elapsed().as_secs_f64() * 1000.0
            );
        }
        if late_waiting || report.late_deferred > 0 {
            late_waiting = settle_some(&mut importer)?;
        }
    }
    if late_waiting {
        series_days_settled += runtime
            .block_on(importer.settle_all_late())
            .context("failed to settle late samples")?;
    }
    runtime.block_on(importer.close());
    progress.finish_and_clear();
    let took = started.elapsed();
    println!(
        "imported {what}: {} samples offered, {} new, {} already there; {} series-days rolled up; {} late samples deferred, {} series-days of them settled; {} series intervals measured; {:.1} s, {:.0} samples/s",
        total.offered,
        total.inserted,
        total.offered - total.inserted,
        total.days_rolled_up,
        total.late_deferred,
        series_days_settled,
        total.series_measured,
        took.as_secs_f64(),
        total.offered as f64 / took.as_secs_f64().max(1e-9),
    );
    Ok(total)
}

/// Imports a whole file in one transaction.
pub fn import_file(path: &Path, url: &str) -> Result<ImportReport> {
    import(
        &Input {
            file: Some(path.to_owned()),
            batch_rows: usize::MAX,
            batch_wait: Duration::MAX,
        },
        url,
    )
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
