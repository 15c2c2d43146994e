//! Writing samples: the import, and the rollups it keeps true in the same transaction.
//!
//! A batch of samples is copied into a staging table and inserted where not already present.
//! Rows longer than 15 minutes (hours and days at every quarter-hour phase, blocks of days)
//! exist only where they end at or before a watermark, `final_before_us`, and packs hold
//! only those. The watermark trails the newest sample by [`HOLD_BACK_US`], so a batch's
//! samples at or after it only add to their 15-minute rows, a cost in proportion to the
//! samples. When the watermark moves, the rows that now end before it are made for every
//! series from the rows a level finer and appended to their packs: a quarter's worth of rows
//! a series per quarter of data. A sample older than the watermark recomputes the rollups of
//! its (series, UTC day) as every sample once did: the 15-minute rows from the samples in
//! SQL, the hourly and daily rows from those in Rust, the packs from the rows in SQL. A batch
//! either commits whole, with its rollups, or not at all; importing it again finds nothing
//! new and changes nothing.

mod shape;

use std::collections::BTreeSet;
use std::fmt;

use insights_core::SeriesKey;
use time::OffsetDateTime;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Transaction};

use crate::layout::{
    micro_watts_sql, pack_entries_sql, pack_start_sql, sample_parts_sql, whole_watts_sql,
    FINAL_BEFORE_FACT, ROLLUP_LAYOUT_UPGRADED_IN_PLACE, ROLLUP_LAYOUT_VERSION, ROLLUP_VERSION_FACT,
    SCHEMA_SQL,
};
use crate::plan::{self, Level, DAY_US, HOUR_US, QUARTER_US};
use shape::{BatchShape, SeriesRun};

/// Islands of touched days are recomputed in groups of about this many 15-minute rows, so
/// memory stays bounded however much is imported.
const QUARTERS_PER_GROUP: usize = 1 << 18;

/// What an import did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportReport {
    /// Samples offered.
    pub offered: u64,
    /// Samples that were new; the rest were already there.
    pub inserted: u64,
    /// The (series, UTC day) pairs whose rollups were recomputed.
    pub days_rolled_up: u64,
    /// Late samples left in `power_rollup_late`, answered from there until
    /// [`Importer::settle_late`] rewrites their days' longer rows.
    pub late_deferred: u64,
    /// The series whose nominal interval was recomputed.
    pub series_measured: u64,
}

/// Why an import failed; nothing of it was committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportError {
    /// The database could not be reached.
    Connect(String),
    /// A statement failed: the server's message and SQLSTATE.
    Sql(String),
    /// A sample's timestamp is finer than the microsecond PostgreSQL keeps.
    FinerThanMicroseconds {
        /// The sample's series.
        series: SeriesKey,
        /// Its timestamp, in ns since the epoch.
        nanos: i64,
    },
    /// A sample's timestamp or circuit number cannot be stored.
    OutOfRange {
        /// The sample's series.
        series: SeriesKey,
        /// What cannot be stored.
        reason: String,
    },
    /// The samples' source failed part way, for example at a bad row; nothing of the batch
    /// was committed.
    Input(String),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Connect(reason) => write!(f, "failed to connect: {reason}"),
            ImportError::Sql(reason) => f.write_str(reason),
            ImportError::FinerThanMicroseconds { series, nanos } => write!(
                f,
                "a sample of {series} at {nanos} ns is finer than the microsecond PostgreSQL keeps"
            ),
            ImportError::OutOfRange { series, reason } => {
                write!(f, "a sample of {series} cannot be stored: {reason}")
            }
            ImportError::Input(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for ImportError {}

fn sql_error(error: tokio_postgres::Error) -> ImportError {
    ImportError::Sql(crate::describe_sql_error(&error))
}

/// How many (series, UTC day) pairs of late samples one transaction of
/// [`Importer::settle_all_late`] settles: a little over a second's work at the 5.3 ms a
/// series-day measured at 10,000 series (docs/scaling.md, "Late samples wait, then settle").
pub const LATE_SERIES_DAYS_AT_ONCE: u64 = 256;

/// What one [`Importer::settle_late`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settled {
    /// The (series, UTC day) pairs whose late samples it settled.
    pub series_days: u64,
    /// Whether late samples still wait.
    pub waiting: bool,
}

/// What `rollup --verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Rollup rows compared.
    pub rows: u64,
    /// Rows that are missing, extra, or differ from the samples; a few of them, described.
    pub mismatches: Vec<String>,
    /// How many rows are wrong in all.
    pub n_mismatches: u64,
}

/// A connection that writes samples and rollups; each call is one transaction.
pub struct Importer {
    client: Client,
    driver: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for Importer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Importer").finish_non_exhaustive()
    }
}

impl Importer {
    /// Connects and applies the schema (`db/timeseries.sql`), which leaves existing tables as
    /// they are.
    pub async fn connect(url: &str) -> Result<Importer, ImportError> {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|error| ImportError::Connect(crate::describe_sql_error(&error)))?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        client.batch_execute(SCHEMA_SQL).await.map_err(sql_error)?;
        Ok(Importer { client, driver })
    }

    /// Loads samples `(series, ns since the epoch, watts)` with binary COPY, creating the
    /// monthly partitions they need, and keeps the rollups true, all in one transaction:
    /// answers include every sample from the commit. Samples more than two hours late may be
    /// left waiting in `power_rollup_late` ([`ImportReport::late_deferred`]) for
    /// [`Importer::settle_late`]. Samples already present, or earlier in the same batch, are
    /// left as they are: the first wins.
    pub async fn import(
        &mut self,
        samples: impl Iterator<Item = (SeriesKey, i64, f64)>,
    ) -> Result<ImportReport, ImportError> {
        self.import_fallible(samples.map(Ok)).await
    }

    /// As [`Importer::import`], from a source that may fail part way: the first error rolls
    /// the batch back and is returned.
    pub async fn import_fallible(
        &mut self,
        samples: impl Iterator<Item = Result<(SeriesKey, i64, f64), ImportError>>,
    ) -> Result<ImportReport, ImportError> {
        let transaction = begin(&mut self.client).await?;
        transaction
            .batch_execute(
                "CREATE TEMP TABLE staged (duid text, circuit_number int4, ts timestamptz, watts float8, ord int8) ON COMMIT DROP",
            )
            .await
            .map_err(sql_error)?;
        let (offered, months, shape) = copy_staged(&transaction, samples).await?;
        for &(year, month) in &months {
            create_partition(&transaction, year, month).await?;
        }
        // Data written before rollups existed has none: roll up everything this once.
        let rolled_up_before = layout_current(&transaction).await?
            || transaction
                .query_one("SELECT NOT EXISTS (SELECT FROM power_samples)", &[])
                .await
                .map_err(sql_error)?
                .get::<_, bool>(0);
        let (inserted, appended) = insert_staged(&transaction, &shape).await?;
        let before = fact(&transaction, FINAL_BEFORE_FACT).await?;
        let (days_rolled_up, late_deferred, series_measured) = if rolled_up_before {
            let taken = match shape.in_order() {
                Some(runs) if appended => Taken::Appended(runs),
                _ => Taken::Table("fresh"),
            };
            let after = take_series(&transaction, taken, before).await?;
            let (days, deferred) = roll_up_batch(&transaction, before, after).await?;
            record_fact(&transaction, FINAL_BEFORE_FACT, after).await?;
            let measured = match shape.in_order() {
                Some(runs) if appended && shape.spacings_complete() => {
                    count_appended_gaps(&transaction, runs).await?
                }
                _ => count_gaps(&transaction, UPDATE_GAPS).await?,
            };
            (days, deferred, measured)
        } else {
            let days = roll_up_everything(&transaction, before).await?;
            (days, 0, count_gaps(&transaction, RECOUNT_GAPS).await?)
        };
        commit_with_layout(transaction).await?;
        if inserted >= SETTLE_AFTER_SAMPLES || !rolled_up_before {
            let partitions: Vec<String> = months
                .iter()
                .map(|&(year, month)| partition_name(year, month))
                .collect();
            settle(&self.client, &partitions).await?;
        }
        Ok(ImportReport {
            offered,
            inserted,
            days_rolled_up,
            late_deferred,
            series_measured,
        })
    }

    /// Settles the late samples of up to `series_days` (series, UTC day) pairs waiting in
    /// `power_rollup_late`, in one transaction: adds them to their 15-minute rows and
    /// recomputes those days' longer rows and packs, as a late sample did in its own batch
    /// before layout 7. Answers are the same before and after; they read fewer rows after.
    pub async fn settle_late(&mut self, series_days: u64) -> Result<Settled, ImportError> {
        let transaction = begin(&mut self.client).await?;
        // Rollups of another layout wait for an import to rebuild them, late samples included.
        if !layout_current(&transaction).await? {
            transaction.rollback().await.map_err(sql_error)?;
            return Ok(Settled {
                series_days: 0,
                waiting: false,
            });
        }
        let before = fact(&transaction, FINAL_BEFORE_FACT).await?;
        let limit = i64::try_from(series_days).unwrap_or(i64::MAX);
        // The first series-days in key order, so a series' consecutive days share the rows they
        // recompute. A series-day has at most 96 quarters, so the first `limit` × 96 quarters
        // hold at least `limit` of them: read through the primary key, not the whole backlog
        // (a fleet's day sent late is about a million quarters).
        let quarters = limit.saturating_mul(96);
        let settled = touch_days(
            &transaction,
            &format!(
                "SELECT duid, circuit_number, day AS ts FROM (
                     SELECT DISTINCT duid, circuit_number, date_bin('24 hours', start, 'epoch') AS day
                     FROM (SELECT duid, circuit_number, start FROM power_rollup_late
                           ORDER BY duid, circuit_number, start LIMIT {quarters}) AS q
                     ORDER BY 1, 2, 3 LIMIT {limit}) AS d"
            ),
        )
        .await?;
        if settled > 0 {
            transaction
                .execute(
                    &format!(
                        "WITH moved AS (
                             DELETE FROM power_rollup_late d USING touched t
                             WHERE d.duid = t.duid AND d.circuit_number = t.circuit_number
                               AND d.start >= t.day AND d.start < t.day + interval '24 hours'
                             RETURNING d.duid, d.circuit_number, d.start, d.n, d.int_sum,
                                       d.micro_sum, d.min_watts, d.max_watts)
                         {}",
                        add_quarters_sql("SELECT * FROM moved ORDER BY 1, 2, 3")
                    ),
                    &[],
                )
                .await
                .map_err(sql_error)?;
            refresh_rollups(&transaction, before, Quarters::Current).await?;
        }
        let waiting: bool = transaction
            .query_one("SELECT EXISTS (SELECT FROM power_rollup_late)", &[])
            .await
            .map_err(sql_error)?
            .get(0);
        commit_with_layout(transaction).await?;
        if settled > 0 && !waiting {
            // Settled rows are deleted: vacuumed now, the emptied table is truncated, and
            // readers, which ask whether anything waits, find out at once rather than
            // through every dead entry until autovacuum comes (a fleet's late day is about a
            // million).
            self.client
                .batch_execute("VACUUM power_rollup_late")
                .await
                .map_err(sql_error)?;
        }
        Ok(Settled {
            series_days: settled,
            waiting,
        })
    }

    /// Settles every late sample waiting, [`LATE_SERIES_DAYS_AT_ONCE`] series-days a
    /// transaction, so a batch that arrives meanwhile waits for one of them at most; returns
    /// the series-days settled.
    pub async fn settle_all_late(&mut self) -> Result<u64, ImportError> {
        let mut total = 0;
        loop {
            let settled = self.settle_late(LATE_SERIES_DAYS_AT_ONCE).await?;
            total += settled.series_days;
            if !settled.waiting {
                return Ok(total);
            }
        }
    }

    /// Recomputes the rollups of every series and day with samples or rollups between `from`
    /// and `to` (whole UTC days around them; everything when both are `None`, or when the
    /// rollups are of an older layout or have no watermark yet).
    pub async fn rebuild(
        &mut self,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> Result<u64, ImportError> {
        let transaction = begin(&mut self.client).await?;
        let before = fact(&transaction, FINAL_BEFORE_FACT).await?;
        // Bounds recompute days inside a layout that is already this version's, around its
        // watermark; without one (an older layout, or no import yet) everything is rebuilt.
        let current = before.is_some() && layout_current(&transaction).await?;
        let days = if (from.is_none() && to.is_none()) || !current {
            let days = roll_up_everything(&transaction, before).await?;
            count_gaps(&transaction, RECOUNT_GAPS).await?;
            days
        } else {
            let days = touch_everything(&transaction, Some((from, to))).await?;
            refresh_rollups(&transaction, before, Quarters::FromSamples).await?;
            days
        };
        commit_with_layout(transaction).await?;
        // A rebuild rewrites rollups, packs and gap counts; the samples are as they were.
        settle(&self.client, &[]).await?;
        Ok(days)
    }

    /// Compares every rollup row with a recomputation from the samples, by a different route
    /// than the import takes: all in SQL, each hourly and daily row summed from its parts.
    pub async fn verify(&mut self) -> Result<VerifyReport, ImportError> {
        let transaction = begin(&mut self.client).await?;
        transaction
            .batch_execute(VERIFY_SQL)
            .await
            .map_err(sql_error)?;
        transaction
            .batch_execute(&verify_packs_sql())
            .await
            .map_err(sql_error)?;
        let rows: i64 = transaction
            .query_one("SELECT count(*) FROM power_rollups", &[])
            .await
            .map_err(sql_error)?
            .get(0);
        let n_mismatches: i64 = transaction
            .query_one("SELECT count(*) FROM rollup_mismatch", &[])
            .await
            .map_err(sql_error)?
            .get(0);
        let mismatches = transaction
            .query(
                "SELECT line FROM rollup_mismatch ORDER BY line LIMIT 20",
                &[],
            )
            .await
            .map_err(sql_error)?
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect();
        transaction.rollback().await.map_err(sql_error)?;
        Ok(VerifyReport {
            rows: rows as u64,
            mismatches,
            n_mismatches: n_mismatches as u64,
        })
    }

    /// Closes the connection.
    pub async fn close(self) {
        drop(self.client);
        let _ = self.driver.await;
    }
}

/// Loads samples with binary COPY in one transaction, rollups included (see
/// [`Importer::import`]), then settles any late samples left waiting
/// ([`Importer::settle_all_late`]).
pub async fn import(
    url: &str,
    samples: impl Iterator<Item = (SeriesKey, i64, f64)>,
) -> Result<ImportReport, ImportError> {
    let mut importer = Importer::connect(url).await?;
    let report = importer.import(samples).await;
    let settled = match report {
        Ok(_) => importer.settle_all_late().await.map(|_| ()),
        Err(_) => Ok(()),
    };
    importer.close().await;
    settled.and(report)
}

/// The advisory lock every writing transaction holds: two importers recomputing the same
/// day's rollups at once would each miss the other's uncommitted samples.
const WRITER_LOCK: i64 = 0x1_5196_7075_6D70;

/// A transaction in UTC, so that day arithmetic in SQL is 24 hours whatever the server's zone,
/// holding [`WRITER_LOCK`], so that writers take turns; readers never wait for it. Without
/// JIT: the statements that extend the rollups for every series are estimated at millions of
/// rows (a generated series of instants per series) and were compiled at each call, 100 ms
/// and more, for a few rows' work.
async fn begin(client: &mut Client) -> Result<Transaction<'_>, ImportError> {
    let transaction = client.transaction().await.map_err(sql_error)?;
    transaction
        .batch_execute(&format!(
            "SET LOCAL timezone = 'UTC'; SET LOCAL jit = off; SELECT pg_advisory_xact_lock({WRITER_LOCK})"
        ))
        .await
        .map_err(sql_error)?;
    Ok(transaction)
}

/// A binary COPY of rows of `types` into the table `statement` names.
async fn copy_in(
    transaction: &Transaction<'_>,
    statement: &str,
    types: &[Type],
) -> Result<BinaryCopyInWriter, ImportError> {
    let sink = transaction.copy_in(statement).await.map_err(sql_error)?;
    Ok(BinaryCopyInWriter::new(sink, types))
}

/// Inserts the samples of `staged` that are new into `power_samples` and leaves them in
/// `fresh`; returns how many, and whether the batch appends (see [`appends`]).
async fn insert_staged(
    transaction: &Transaction<'_>,
    shape: &BatchShape,
) -> Result<(u64, bool), ImportError> {
    let appended = match shape.in_order() {
        Some(runs) => appends(transaction, runs).await?,
        None => false,
    };
    // A scattered batch is inserted in the primary key's order (see `BatchShape::scattered`),
    // samples of one series and instant in the batch's (`ord`), so the first still wins.
    let order = if shape.scattered() {
        " ORDER BY duid, circuit_number, ts, ord"
    } else {
        ""
    };
    if appended {
        // Nothing of it can be stored already, nor twice in it: a plain insert, which costs
        // half as much a row as one with ON CONFLICT (2 M rows in psql: 4.7 s against
        // 9.9 s), and `fresh` is `staged`.
        let inserted = transaction
            .execute(
                &format!("INSERT INTO power_samples SELECT duid, circuit_number, ts, watts FROM staged{order}"),
                &[],
            )
            .await
            .map_err(sql_error)?;
        transaction
            .batch_execute("ALTER TABLE staged RENAME TO fresh")
            .await
            .map_err(sql_error)?;
        Ok((inserted, true))
    } else {
        transaction
            .execute(
                "CREATE TEMP TABLE fresh (duid text, circuit_number int4, ts timestamptz, watts float8) ON COMMIT DROP",
                &[],
            )
            .await
            .map_err(sql_error)?;
        let inserted = transaction
            .execute(
                &format!(
                    "WITH added AS (
                         INSERT INTO power_samples SELECT duid, circuit_number, ts, watts FROM staged{order}
                         ON CONFLICT DO NOTHING
                         RETURNING duid, circuit_number, ts, watts)
                     INSERT INTO fresh SELECT * FROM added"
                ),
                &[],
            )
            .await
            .map_err(sql_error)?;
        Ok((inserted, false))
    }
}

/// The spacing in ns from the instant `$earlier` to `$later`: exact, as both are whole µs
/// and the epoch of an interval is numeric.
macro_rules! spacing_ns_sql {
    ($later:expr, $earlier:expr) => {
        concat!(
            "(extract(epoch FROM ",
            $later,
            " - ",
            $earlier,
            ") * 1000000000)::bigint"
        )
    };
}

/// Copies the samples into `staged`, each with its place in the batch (`ord`); returns how
/// many, the months they fall in, and the batch's shape.
async fn copy_staged(
    transaction: &Transaction<'_>,
    samples: impl Iterator<Item = Result<(SeriesKey, i64, f64), ImportError>>,
) -> Result<(u64, BTreeSet<(i32, time::Month)>, BatchShape), ImportError> {
    let writer = copy_in(
        transaction,
        "COPY staged FROM STDIN (FORMAT binary)",
        &[
            Type::TEXT,
            Type::INT4,
            Type::TIMESTAMPTZ,
            Type::FLOAT8,
            Type::INT8,
        ],
    )
    .await?;
    futures_util::pin_mut!(writer);
    let mut offered = 0i64;
    let mut months = BTreeSet::new();
    let mut shape = BatchShape::default();
    for sample in samples {
        let (key, nanos, watts) = sample?;
        if nanos % 1000 != 0 {
            return Err(ImportError::FinerThanMicroseconds { series: key, nanos });
        }
        let at = stored_instant(&key, nanos)?;
        months.insert((at.year(), at.month()));
        let number = stored_circuit_number(&key)?;
        writer
            .as_mut()
            .write(&[&key.duid.as_str(), &number, &at, &watts, &offered])
            .await
            .map_err(sql_error)?;
        shape.add(&key, nanos / 1000);
        offered += 1;
    }
    writer.finish().await.map_err(sql_error)?;
    Ok((offered.unsigned_abs(), months, shape))
}

/// A series' circuit number as the table stores it.
fn stored_circuit_number(key: &SeriesKey) -> Result<i32, ImportError> {
    i32::try_from(key.circuit_number).map_err(|_| ImportError::OutOfRange {
        reason: format!("circuit number {} is too large", key.circuit_number),
        series: key.clone(),
    })
}

/// An instant of a series, in ns since the epoch, as the table stores it.
fn stored_instant(key: &SeriesKey, nanos: i64) -> Result<OffsetDateTime, ImportError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).map_err(|error| {
        ImportError::OutOfRange {
            series: key.clone(),
            reason: error.to_string(),
        }
    })
}

/// Whether a batch whose series' samples are in order (`runs`) begins, in each series, after
/// every stored sample of it: then none of it is stored already. Names the series in
/// `batch_series`, with their first samples.
async fn appends(transaction: &Transaction<'_>, runs: &[SeriesRun]) -> Result<bool, ImportError> {
    transaction
        .batch_execute(
            "CREATE TEMP TABLE batch_series (duid text, circuit_number int4, first_ts timestamptz) ON COMMIT DROP",
        )
        .await
        .map_err(sql_error)?;
    let writer = copy_in(
        transaction,
        "COPY batch_series FROM STDIN (FORMAT binary)",
        &[Type::TEXT, Type::INT4, Type::TIMESTAMPTZ],
    )
    .await?;
    futures_util::pin_mut!(writer);
    for run in runs {
        let number = stored_circuit_number(&run.key)?;
        let first = stored_instant(&run.key, run.first_us * 1000)?;
        writer
            .as_mut()
            .write(&[&run.key.duid.as_str(), &number, &first])
            .await
            .map_err(sql_error)?;
    }
    writer.finish().await.map_err(sql_error)?;
    // Series by series through the primary key (LATERAL, LIMIT 1), pruned to the months
    // from the series' first sample on, where a join could scan every month's partition.
    let stored_after = transaction
        .query_one(
            "SELECT EXISTS (
                 SELECT FROM batch_series b
                 CROSS JOIN LATERAL (
                     SELECT FROM power_samples p
                     WHERE p.duid = b.duid AND p.circuit_number = b.circuit_number AND p.ts >= b.first_ts
                     LIMIT 1) AS p)",
            &[],
        )
        .await
        .map_err(sql_error)?;
    Ok(!stored_after.get::<_, bool>(0))
}

/// Brings the gap counts of the series of an appended batch (see [`appends`]) up to date from
/// its spacings (`runs`) and the spacing from each series' last stored sample to its first
/// new one, names them in `gap_region`, and measures their intervals; returns how many.
/// Nothing of the series' stored samples is read but that one sample each.
async fn count_appended_gaps(
    transaction: &Transaction<'_>,
    runs: &[SeriesRun],
) -> Result<u64, ImportError> {
    transaction
        .batch_execute(
            "CREATE TEMP TABLE gap_change (duid text, circuit_number int4, gap_ns int8, n int8) ON COMMIT DROP",
        )
        .await
        .map_err(sql_error)?;
    let writer = copy_in(
        transaction,
        "COPY gap_change FROM STDIN (FORMAT binary)",
        &[Type::TEXT, Type::INT4, Type::INT8, Type::INT8],
    )
    .await?;
    futures_util::pin_mut!(writer);
    for run in runs {
        let number = stored_circuit_number(&run.key)?;
        for (&gap_ns, &n) in &run.spacings {
            writer
                .as_mut()
                .write(&[&run.key.duid.as_str(), &number, &gap_ns, &n])
                .await
                .map_err(sql_error)?;
        }
    }
    writer.finish().await.map_err(sql_error)?;
    transaction
        .batch_execute(concat!(
            "INSERT INTO gap_change
             SELECT b.duid, b.circuit_number, ",
            spacing_ns_sql!("b.first_ts", "p.ts"),
            ", 1
             FROM batch_series b
             CROSS JOIN LATERAL (
                 SELECT p.ts FROM power_samples p
                 WHERE p.duid = b.duid AND p.circuit_number = b.circuit_number AND p.ts < b.first_ts
                 ORDER BY p.ts DESC LIMIT 1) AS p;
             INSERT INTO power_sample_gaps
             SELECT duid, circuit_number, gap_ns, sum(n)::bigint FROM gap_change
             GROUP BY 1, 2, 3
             ORDER BY 1, 2, 3
             ON CONFLICT (duid, circuit_number, gap_ns) DO UPDATE SET n = power_sample_gaps.n + EXCLUDED.n;
             CREATE TEMP TABLE IF NOT EXISTS gap_region (id bigint, duid text, circuit_number int4, lo timestamptz, hi timestamptz) ON COMMIT DROP;
             DELETE FROM gap_region;
             INSERT INTO gap_region (duid, circuit_number) SELECT duid, circuit_number FROM batch_series;
             ANALYZE gap_region;"
        ))
        .await
        .map_err(sql_error)?;
    measure_intervals(transaction).await
}

/// The partition of `power_samples` that holds a month.
fn partition_name(year: i32, month: time::Month) -> String {
    format!("power_samples_y{year:04}m{:02}", u8::from(month))
}

/// Batches of at least this many new samples are settled before the import returns; smaller
/// ones change too little of any table to slow a plan, and autovacuum follows them.
const SETTLE_AFTER_SAMPLES: u64 = 100_000;

/// Makes what a committed import wrote ready for fast answers, so nobody need run anything by
/// hand: VACUUM marks the new pages all-visible, so index-only scans of the rollups and
/// samples need not visit the heap (right after a bulk import a 120-day window took 20 x an
/// hour's time, and 1.8 x after VACUUM), and ANALYZE gives the planner the new row counts
/// and distributions. Readers never wait for it: VACUUM takes a SHARE UPDATE EXCLUSIVE lock.
async fn settle(client: &Client, tables: &[String]) -> Result<(), ImportError> {
    let mut list: Vec<&str> = tables.iter().map(String::as_str).collect();
    list.extend([
        "power_rollups",
        "power_rollup_packs",
        "power_sample_gaps",
        "power_series_intervals",
        "power_series",
    ]);
    // One statement: VACUUM cannot run inside the implicit transaction of several.
    client
        .batch_execute(&format!("VACUUM (ANALYZE) {}", list.join(", ")))
        .await
        .map_err(sql_error)
}

async fn create_partition(
    transaction: &Transaction<'_>,
    year: i32,
    month: time::Month,
) -> Result<(), ImportError> {
    let invalid = |error: time::error::ComponentRange| ImportError::Sql(error.to_string());
    let from = time::Date::from_calendar_date(year, month, 1).map_err(invalid)?;
    let (next_year, next_month) = if month == time::Month::December {
        (year + 1, time::Month::January)
    } else {
        (year, month.next())
    };
    let to = time::Date::from_calendar_date(next_year, next_month, 1).map_err(invalid)?;
    // Made apart and then attached: `CREATE TABLE … PARTITION OF` takes an ACCESS EXCLUSIVE
    // lock on `power_samples`, which every read would wait for until the import commits;
    // ATTACH takes SHARE UPDATE EXCLUSIVE, which reads do not wait for (and adds the primary
    // key's index to the empty table).
    let name = partition_name(year, month);
    let statement = format!(
        "CREATE TABLE IF NOT EXISTS {name} (LIKE power_samples INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
         DO $$ BEGIN
             IF NOT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = '{name}'::regclass) THEN
                 ALTER TABLE power_samples ATTACH PARTITION {name}
                     FOR VALUES FROM ('{from} 00:00:00+00') TO ('{to} 00:00:00+00');
             END IF;
         END $$"
    );
    transaction
        .batch_execute(&statement)
        .await
        .map_err(sql_error)
}

/// The spacing in ns between a row and the one before it among the rows of its `$partition`.
macro_rules! gap_ns_sql {
    ($partition:literal) => {
        spacing_ns_sql!(
            "ts",
            concat!("lag(ts) OVER (PARTITION BY ", $partition, " ORDER BY ts)")
        )
    };
}

/// Each touched series' nominal interval from its gap counts: the most common, the shorter on
/// a tie, as `insights_core::nominal_interval` finds it; written only where it changed (a
/// stream's batch seldom changes one, and each write is a new row version), and counted.
const MEASURE_INTERVALS: &str = "
    WITH measured AS (
        SELECT DISTINCT ON (g.duid, g.circuit_number) g.duid, g.circuit_number, g.gap_ns
        FROM power_sample_gaps g
        JOIN gap_region r ON r.duid = g.duid AND r.circuit_number = g.circuit_number
        ORDER BY g.duid, g.circuit_number, g.n DESC, g.gap_ns),
    written AS (
        INSERT INTO power_series_intervals (duid, circuit_number, interval_ns)
        SELECT * FROM measured
        ON CONFLICT (duid, circuit_number) DO UPDATE SET interval_ns = EXCLUDED.interval_ns
            WHERE power_series_intervals.interval_ns <> EXCLUDED.interval_ns
        RETURNING 1)
    SELECT count(*) FROM measured";

/// Counts every spacing of every series anew, and names every series in `gap_region`. As
/// DELETEs: TRUNCATE's lock would hold every read until the commit.
const RECOUNT_GAPS: &str = concat!(
            "DELETE FROM power_sample_gaps;
             DELETE FROM power_series_intervals;
             INSERT INTO power_sample_gaps
             SELECT duid, circuit_number, gap_ns, count(*) FROM (
                 SELECT duid, circuit_number, ",
            gap_ns_sql!("duid, circuit_number"),
            " AS gap_ns FROM power_samples) AS spacing
             WHERE gap_ns IS NOT NULL
             GROUP BY 1, 2, 3;
             CREATE TEMP TABLE IF NOT EXISTS gap_region (id bigint, duid text, circuit_number int4, lo timestamptz, hi timestamptz) ON COMMIT DROP;
             DELETE FROM gap_region;
             INSERT INTO gap_region (duid, circuit_number) SELECT DISTINCT duid, circuit_number FROM power_sample_gaps;"
        );

/// A series' UTC day with at most this many new samples has a gap region around each of them
/// (`UPDATE_GAPS`); one with more, one region from its first to its last.
macro_rules! gaps_alone_at_most {
    () => {
        "64"
    };
}

/// Brings the gap counts of the series in `fresh` up to date, and names them in `gap_region`.
///
/// Only the stretch around new samples can change. A region runs from the sample before
/// some new samples to the sample after them: around each new sample of a series' UTC day
/// that has a few (`gaps_alone_at_most`), as late samples scattered over days come; from
/// the first to the last of a day that has more, as a bulk import's or a stream's. Regions
/// that overlap are merged. Each region's
/// spacings are counted as they are now (+1) and as they were without the new samples (-1).
/// So a batch costs in proportion to its samples and the days they fill, however long the
/// series and however far apart its late samples: a late sample reads its neighbours, not
/// its day.
const UPDATE_GAPS: &str = concat!(
            "CREATE TEMP TABLE IF NOT EXISTS gap_region (id bigint, duid text, circuit_number int4, lo timestamptz, hi timestamptz) ON COMMIT DROP;
             DELETE FROM gap_region;
             INSERT INTO gap_region
             SELECT row_number() OVER (), duid, circuit_number, min(lo), max(hi) FROM (
                 SELECT duid, circuit_number, lo, hi,
                        count(*) FILTER (WHERE starts) OVER (PARTITION BY duid, circuit_number ORDER BY lo, hi) AS island
                 FROM (
                     SELECT duid, circuit_number, lo, hi,
                            (lo >= max(hi) OVER (PARTITION BY duid, circuit_number ORDER BY lo, hi
                                                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) IS NOT FALSE AS starts
                     FROM (
                         SELECT b.duid, b.circuit_number,
                                coalesce((SELECT max(p.ts) FROM power_samples p
                                          WHERE p.duid = b.duid AND p.circuit_number = b.circuit_number AND p.ts < b.lo), b.lo) AS lo,
                                coalesce((SELECT min(p.ts) FROM power_samples p
                                          WHERE p.duid = b.duid AND p.circuit_number = b.circuit_number AND p.ts > b.hi), b.hi) AS hi
                         FROM (SELECT duid, circuit_number, min(ts) AS lo, max(ts) AS hi FROM (
                                   SELECT duid, circuit_number, ts, date_bin('24 hours', ts, 'epoch') AS day,
                                          CASE WHEN count(*) OVER (PARTITION BY duid, circuit_number,
                                                                   date_bin('24 hours', ts, 'epoch'))
                                                    <= ",
            gaps_alone_at_most!(),
            " THEN ts END AS alone
                                   FROM fresh) AS f
                               GROUP BY duid, circuit_number, day, alone) AS b
                     ) AS day_regions
                 ) AS marked
             ) AS islands
             GROUP BY duid, circuit_number, island;
             ANALYZE gap_region;
             MERGE INTO power_sample_gaps g
             USING (
                 SELECT duid, circuit_number, gap_ns, sum(change)::bigint AS change FROM (
                     SELECT duid, circuit_number, change, ",
            gap_ns_sql!("id, change"),
            " AS gap_ns
                     -- Each region's samples by index (LATERAL, kept apart by OFFSET 0):
                     -- joined, the planner read all of a month's partition for 10,000 small
                     -- regions, 4 s of a batch's 5.
                     FROM (SELECT r.id, r.duid, r.circuit_number, p.ts, 1 AS change
                           FROM gap_region r
                           CROSS JOIN LATERAL (
                               SELECT p.ts FROM power_samples p
                               WHERE p.duid = r.duid AND p.circuit_number = r.circuit_number
                                 AND p.ts >= r.lo AND p.ts <= r.hi
                               OFFSET 0) AS p
                           UNION ALL
                           SELECT r.id, r.duid, r.circuit_number, p.ts, -1
                           FROM gap_region r
                           CROSS JOIN LATERAL (
                               SELECT p.ts FROM power_samples p
                               WHERE p.duid = r.duid AND p.circuit_number = r.circuit_number
                                 AND p.ts >= r.lo AND p.ts <= r.hi
                                 -- Rows older than this transaction: no join with the new ones.
                                 AND p.xmin <> pg_current_xact_id()::xid
                               OFFSET 0) AS p
                          ) AS samples
                 ) AS spacing
                 WHERE gap_ns IS NOT NULL
                 GROUP BY 1, 2, 3
                 HAVING sum(change) <> 0
             ) AS d
             ON g.duid = d.duid AND g.circuit_number = d.circuit_number AND g.gap_ns = d.gap_ns
             WHEN MATCHED AND g.n + d.change = 0 THEN DELETE
             WHEN MATCHED THEN UPDATE SET n = g.n + d.change
             WHEN NOT MATCHED THEN INSERT VALUES (d.duid, d.circuit_number, d.gap_ns, d.change);"
        );

/// Runs `gaps`, one of [`RECOUNT_GAPS`] and [`UPDATE_GAPS`], then measures the interval of
/// every series it names in `gap_region`; returns how many series were measured.
async fn count_gaps(transaction: &Transaction<'_>, gaps: &str) -> Result<u64, ImportError> {
    transaction.batch_execute(gaps).await.map_err(sql_error)?;
    measure_intervals(transaction).await
}

/// Measures the nominal interval of every series in `gap_region`; returns how many.
async fn measure_intervals(transaction: &Transaction<'_>) -> Result<u64, ImportError> {
    let measured: i64 = transaction
        .query_one(MEASURE_INTERVALS, &[])
        .await
        .map_err(sql_error)?
        .get(0);
    // A count: never negative.
    Ok(measured.unsigned_abs())
}

/// How far the watermark stays behind the newest sample of a batch: samples up to this late
/// update only their 15-minute rows, as punctual ones do; later ones wait in
/// `power_rollup_late` until [`Importer::settle_late`] recomputes their days.
const HOLD_BACK_US: i64 = 2 * HOUR_US;

/// The longest advance of the watermark made row by row for every series
/// ([`extend_rollups`]); a longer one, as a bulk import makes, recomputes the days it crosses
/// instead, which costs less per row.
const EXTEND_AT_MOST_US: i64 = DAY_US;

/// The fact `name` of `power_sample_facts`: `rollup_version`, the layout the rollups were
/// written with; or `final_before_us`, the watermark: rows longer than 15 minutes exist
/// exactly where they end at or before it. `None` before the first import.
async fn fact(transaction: &Transaction<'_>, name: &str) -> Result<Option<i64>, ImportError> {
    Ok(transaction
        .query_opt(
            "SELECT value FROM power_sample_facts WHERE name = $1",
            &[&name],
        )
        .await
        .map_err(sql_error)?
        .map(|row| row.get(0)))
}

/// Whether the rollups were written by this version's layout, or by one whose rows are this
/// layout's as they stand ([`ROLLUP_LAYOUT_UPGRADED_IN_PLACE`]).
async fn layout_current(transaction: &Transaction<'_>) -> Result<bool, ImportError> {
    let version = fact(transaction, ROLLUP_VERSION_FACT).await?;
    Ok(version == Some(ROLLUP_LAYOUT_VERSION) || version == Some(ROLLUP_LAYOUT_UPGRADED_IN_PLACE))
}

/// Records that the rollups are of this version's layout, and commits: the end of every
/// transaction that writes them.
async fn commit_with_layout(transaction: Transaction<'_>) -> Result<(), ImportError> {
    record_fact(
        &transaction,
        ROLLUP_VERSION_FACT,
        Some(ROLLUP_LAYOUT_VERSION),
    )
    .await?;
    transaction.commit().await.map_err(sql_error)
}

/// Records the fact `name`; nothing when `value` is `None`.
async fn record_fact(
    transaction: &Transaction<'_>,
    name: &str,
    value: Option<i64>,
) -> Result<(), ImportError> {
    if let Some(value) = value {
        transaction
            .execute(
                "INSERT INTO power_sample_facts VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                &[&name, &value],
            )
            .await
            .map_err(sql_error)?;
    }
    Ok(())
}

/// Samples just stored, whose series [`take_series`] lists.
enum Taken<'a> {
    /// Every sample of a table: `fresh` or `power_samples`.
    Table(&'a str),
    /// An appended batch (see [`appends`]): its series are named in `batch_series`, and its
    /// runs give each one's newest sample, so neither is read back from its samples (2.07 s
    /// and 0.83 s of a 10.4 M-sample bulk import).
    Appended(&'a [SeriesRun]),
}

/// Lists the series of the samples `taken` in `power_series`, and returns where the
/// watermark may go from `before` after those samples: [`HOLD_BACK_US`] before the newest of
/// them on the 15-minute grid, or before the database's clock when a sample claims to be from
/// the future, so that one sensor's wrong clock cannot turn everyone's samples late; never
/// back.
async fn take_series(
    transaction: &Transaction<'_>,
    taken: Taken<'_>,
    before: Option<i64>,
) -> Result<Option<i64>, ImportError> {
    let (series, newest) = match taken {
        Taken::Table(table) => (
            format!("SELECT DISTINCT duid, circuit_number FROM {table}"),
            format!("SELECT (extract(epoch FROM max(ts)) * 1000000)::int8 FROM {table}"),
        ),
        Taken::Appended(runs) => (
            "SELECT duid, circuit_number FROM batch_series".to_owned(),
            format!(
                "SELECT {}::int8",
                runs.iter()
                    .map(|run| run.last_us)
                    .max()
                    .map_or("NULL".to_owned(), |newest| newest.to_string())
            ),
        ),
    };
    transaction
        .execute(
            &format!("INSERT INTO power_series {series} ON CONFLICT DO NOTHING"),
            &[],
        )
        .await
        .map_err(sql_error)?;
    let row = transaction
        .query_one(
            &format!("SELECT ({newest}), (extract(epoch FROM now()) * 1000000)::int8"),
            &[],
        )
        .await
        .map_err(sql_error)?;
    let (newest, now): (Option<i64>, i64) = (row.get(0), row.get(1));
    let newest = newest.map(|newest| newest.min(now));
    Ok(before.max(newest.map(|newest| newest.div_euclid(QUARTER_US) * QUARTER_US - HOLD_BACK_US)))
}

/// Brings the rollups up to date with the batch in `fresh`, and extends them from the
/// watermark `before` to `after`; returns the (series, UTC day) pairs whose longer rows were
/// recomputed, and the late samples left waiting in `power_rollup_late`.
///
/// Every sample of the batch at or after `before` is added to its 15-minute row (integer
/// sums, so the rows stay exact), which is all it changes, since no longer row exists past
/// it. When the watermark moves a day or less (a stream), a sample before it (a late one) is
/// added to `power_rollup_late` instead, which readers add to the rows that hold it, and its
/// day's longer rows are left for [`Importer::settle_late`]: recomputing them costs 3 to 5 ms
/// a series-day, however few samples arrive. Then the rows that end in
/// `(before, after]` are made: from the rows a level finer, for every series, when the
/// advance is short (a stream of batches moves it a quarter at a time); by recomputing the
/// days it crosses, late samples' days included, when it is long.
async fn roll_up_batch(
    transaction: &Transaction<'_>,
    before: Option<i64>,
    after: Option<i64>,
) -> Result<(u64, u64), ImportError> {
    let extend = match (before, after) {
        (Some(before), Some(after)) => after - before <= EXTEND_AT_MOST_US,
        _ => false,
    };
    let deferred_before = before.filter(|_| extend);
    let fresh_quarters = |condition: String| {
        format!(
            concat!(
                "SELECT duid, circuit_number, date_bin('15 minutes', ts, 'epoch') AS start, count(*) AS n,
                        sum(whole)::bigint AS int_sum, sum(micro)::bigint AS micro_sum,
                        min(watts) AS min_watts, max(watts) AS max_watts
                 FROM (SELECT duid, circuit_number, ts, watts, ",
                sample_parts_sql!("watts"),
                " FROM fresh WHERE {}) AS s(duid, circuit_number, ts, watts, whole, micro)
                 GROUP BY 1, 2, 3
                 ORDER BY 1, 2, 3"
            ),
            condition
        )
    };
    let on_time = fresh_quarters(format!("ts >= {}", instant_sql(deferred_before)));
    transaction
        .execute(&add_quarters_sql(&on_time), &[])
        .await
        .map_err(sql_error)?;
    let deferred = match deferred_before {
        Some(before) => {
            // One pass over the batch: the quarters are written and their samples counted
            // from the same aggregate.
            let late = fresh_quarters(format!("ts < {}", instant_sql(Some(before))));
            let counted: Option<i64> = transaction
                .query_one(
                    &format!(
                        "WITH q AS MATERIALIZED ({late}),
                         added AS (
                             INSERT INTO power_rollup_late
                             SELECT duid, circuit_number, start, n, int_sum, micro_sum, min_watts, max_watts
                             FROM q
                             ON CONFLICT (duid, circuit_number, start) DO UPDATE SET {})
                         SELECT sum(n)::bigint FROM q",
                        merge_sql("power_rollup_late")
                    ),
                    &[],
                )
                .await
                .map_err(sql_error)?
                .get(0);
            counted.unwrap_or(0).unsigned_abs()
        }
        None => 0,
    };
    let late = format!(
        "SELECT duid, circuit_number, ts FROM fresh WHERE ts < {}",
        instant_sql(before)
    );
    match (before, after) {
        (Some(before), Some(after)) if extend => {
            if after > before {
                extend_rollups(transaction, before, after).await?;
            }
            Ok((0, deferred))
        }
        _ => {
            // Every day a row ending in (before, after] overlaps, with the late samples' days.
            // A skip scan a series through the primary key: its first sample in the range,
            // then the first at or after the next day start, and so on: one LIMIT 1 probe for
            // each day that has samples, plus one a series. Reading every sample took 5.2 s of a
            // 10.4 M-sample bulk import; probing every calendar day between a series' first
            // and last sample would cost a series with two samples years apart a probe a day.
            let (from, to) = (
                format!("{} - interval '1 day'", instant_sql(before)),
                instant_sql(after),
            );
            let first_day_from = |start: &str| {
                format!(
                    "date_bin('24 hours', (
                         SELECT p.ts FROM power_samples p
                         WHERE p.duid = s.duid AND p.circuit_number = s.circuit_number
                           AND p.ts >= {start} AND p.ts < {to}
                         ORDER BY p.ts LIMIT 1), 'epoch')"
                )
            };
            let crossed = format!(
                "SELECT s.duid, s.circuit_number, d.day AS ts FROM power_series s
                 CROSS JOIN LATERAL (
                     WITH RECURSIVE days(day) AS (
                         SELECT {}
                         UNION ALL
                         SELECT {} FROM days WHERE days.day IS NOT NULL)
                     SELECT day FROM days WHERE day IS NOT NULL) AS d",
                first_day_from(&from),
                first_day_from("days.day + interval '24 hours'"),
            );
            // Before the first watermark no sample is late.
            let touched = match before {
                Some(_) => format!("{late} UNION ALL {crossed}"),
                None => crossed,
            };
            let days = touch_days(transaction, &touched).await?;
            refresh_rollups(transaction, after, Quarters::Current).await?;
            // A block that ends in (before, after] may hold days of a series that sent
            // nothing in the days recomputed, whose blocks the recomputation did not make.
            if let (Some(before), Some(after)) = (before, after) {
                extend_blocks(transaction, before, after).await?;
            }
            Ok((days, deferred))
        }
    }
}

/// The conflict clause's assignments that merge the row `EXCLUDED` into the row of `table`
/// (`power_rollups` or `power_rollup_late`): counts and integer sums add, extremes widen, so
/// merging is exact in any order.
fn merge_sql(table: &str) -> String {
    format!(
        "n = {table}.n + EXCLUDED.n,
         int_sum = {table}.int_sum + EXCLUDED.int_sum,
         micro_sum = {table}.micro_sum + EXCLUDED.micro_sum,
         min_watts = least({table}.min_watts, EXCLUDED.min_watts),
         max_watts = greatest({table}.max_watts, EXCLUDED.max_watts)"
    )
}

/// Adds the 15-minute aggregates `quarters` (columns `duid`, `circuit_number`, `start`, `n`,
/// `int_sum`, `micro_sum`, `min_watts`, `max_watts`) to their rows of `power_rollups`.
fn add_quarters_sql(quarters: &str) -> String {
    format!(
        "INSERT INTO power_rollups
         SELECT duid, circuit_number, 900, 0, start, n, int_sum, micro_sum, min_watts, max_watts
         FROM ({quarters}) AS q
         ON CONFLICT (duid, circuit_number, span_s, phase_s, start) DO UPDATE SET {}",
        merge_sql("power_rollups")
    )
}

/// Recomputes every rollup row from the samples, with the watermark as far as they take it
/// (never back: a reader may hold it); returns the (series, UTC day) pairs recomputed.
async fn roll_up_everything(
    transaction: &Transaction<'_>,
    before: Option<i64>,
) -> Result<u64, ImportError> {
    let after = take_series(transaction, Taken::Table("power_samples"), before).await?;
    let days = touch_everything(transaction, None).await?;
    refresh_rollups(transaction, after, Quarters::FromSamples).await?;
    record_fact(transaction, FINAL_BEFORE_FACT, after).await?;
    Ok(days)
}

/// An instant in µs since the epoch as SQL, `-infinity` for `None`.
fn instant_sql(micros: Option<i64>) -> String {
    match micros {
        Some(micros) => format!("(to_timestamp(0) + {micros}::int8 * interval '1 microsecond')"),
        None => "'-infinity'::timestamptz".to_owned(),
    }
}

/// Makes, for every series, the hourly and daily rows that end in `(before, after]` from the
/// rows a level finer, appending each to its pack, then the blocks of 8 and 64 days that end
/// there. A pack's rows are in start order, and a row that ends after `before` starts after
/// every row of its span and phase that exists, so appending keeps the order.
async fn extend_rollups(
    transaction: &Transaction<'_>,
    before: i64,
    after: i64,
) -> Result<(), ImportError> {
    for (level, finer) in [(Level::Hour, Level::Quarter), (Level::Day, Level::Hour)] {
        let span = level.span_us();
        let pack_s = level.pack_len().unwrap_or(1) * i64::from(level.span_s());
        let (first, last) = (before - span + QUARTER_US, after - span);
        let params: [&(dyn ToSql + Sync); 5] =
            [&first, &last, &finer.span_s(), &level.span_s(), &pack_s];
        transaction
            .execute(EXTEND_SLIDING, &params)
            .await
            .map_err(sql_error)?;
    }
    extend_blocks(transaction, before, after).await
}

/// Makes, for every series, the blocks of 8 and 64 days that end in `(before, after]`.
async fn extend_blocks(
    transaction: &Transaction<'_>,
    before: i64,
    after: i64,
) -> Result<(), ImportError> {
    for level in [Level::Days8, Level::Days64] {
        let span = level.span_us();
        // The blocks that end in (before, after].
        let (first, last) = (
            before.div_euclid(span) * span,
            after.div_euclid(span) * span - span,
        );
        if first > last {
            continue;
        }
        let params: [&(dyn ToSql + Sync); 3] = [&first, &last, &level.span_s()];
        transaction
            .execute(EXTEND_BLOCKS, &params)
            .await
            .map_err(sql_error)?;
    }
    Ok(())
}

/// For every series, the rows of span `$4` s starting every 15 minutes from `$1` to `$2` (µs
/// since the epoch), each the sum of the rows of span `$3` of its phase inside it, appended to
/// their packs (of `$5` s).
const EXTEND_SLIDING: &str = concat!(
    "
    WITH added AS (
        INSERT INTO power_rollups
        SELECT s.duid, s.circuit_number, $4::int4, mod(mod(extract(epoch FROM r.start)::bigint, $4::int4) + $4::int4, $4::int4)::int4,
               r.start, a.n, a.int_sum, a.micro_sum, a.min_watts, a.max_watts
        FROM power_series s
        CROSS JOIN generate_series(to_timestamp(0) + $1::int8 * interval '1 microsecond',
                                   to_timestamp(0) + $2::int8 * interval '1 microsecond',
                                   interval '15 minutes') AS r(start)
        CROSS JOIN LATERAL (
            SELECT sum(f.n)::bigint AS n, sum(f.int_sum)::bigint AS int_sum, sum(f.micro_sum)::bigint AS micro_sum,
                   min(f.min_watts) AS min_watts, max(f.max_watts) AS max_watts
            FROM power_rollups f
            WHERE f.duid = s.duid AND f.circuit_number = s.circuit_number AND f.span_s = $3::int4
              AND f.phase_s = mod(mod(extract(epoch FROM r.start)::bigint, $3::int4) + $3::int4, $3::int4)::int4
              AND f.start >= r.start AND f.start < r.start + $4::int4 * interval '1 second') AS a
        WHERE a.n IS NOT NULL
        ORDER BY 1, 2, 4, 5
        RETURNING duid, circuit_number, span_s, phase_s, start, n, int_sum, micro_sum, min_watts, max_watts)
    INSERT INTO power_rollup_packs
    SELECT duid, circuit_number, span_s, phase_s, pack,
           ",
    pack_entries_sql!("", "pack", "span_s"),
    "
    FROM (SELECT *, ",
    pack_start_sql!("", "$5::int8"),
    " AS pack
          FROM added) AS r
    GROUP BY duid, circuit_number, span_s, phase_s, pack
    ON CONFLICT (duid, circuit_number, span_s, phase_s, start)
        DO UPDATE SET entries = power_rollup_packs.entries || EXCLUDED.entries"
);

/// For every series, the blocks of `$3` s starting from `$1` to `$2` (µs since the epoch),
/// each the sum of the daily rows at UTC midnight inside it; a block already made, by the
/// days' recomputation in the same batch, is left as it is.
const EXTEND_BLOCKS: &str = "
    INSERT INTO power_rollups
    SELECT s.duid, s.circuit_number, $3::int4, 0, b.start, a.n, a.int_sum, a.micro_sum, a.min_watts, a.max_watts
    FROM power_series s
    CROSS JOIN generate_series(to_timestamp(0) + $1::int8 * interval '1 microsecond',
                               to_timestamp(0) + $2::int8 * interval '1 microsecond',
                               $3::int4 * interval '1 second') AS b(start)
    CROSS JOIN LATERAL (
        SELECT sum(d.n)::bigint AS n, sum(d.int_sum)::bigint AS int_sum, sum(d.micro_sum)::bigint AS micro_sum,
               min(d.min_watts) AS min_watts, max(d.max_watts) AS max_watts
        FROM power_rollups d
        WHERE d.duid = s.duid AND d.circuit_number = s.circuit_number AND d.span_s = 86400 AND d.phase_s = 0
          AND d.start >= b.start AND d.start < b.start + $3::int4 * interval '1 second') AS a
    WHERE a.n IS NOT NULL
    ORDER BY 1, 2, 5
    ON CONFLICT DO NOTHING";

/// Records the (series, UTC day) pairs of the samples `select` yields in `touched`.
async fn touch_days(transaction: &Transaction<'_>, select: &str) -> Result<u64, ImportError> {
    transaction
        .batch_execute(
            "CREATE TEMP TABLE IF NOT EXISTS touched (duid text, circuit_number int4, day timestamptz) ON COMMIT DROP",
        )
        .await
        .map_err(sql_error)?;
    let statement = format!(
        "INSERT INTO touched
         SELECT DISTINCT duid, circuit_number, date_bin('24 hours', ts, 'epoch') FROM ({select}) AS samples"
    );
    transaction
        .execute(statement.as_str(), &[])
        .await
        .map_err(sql_error)
}

/// Touches every day with samples or 15-minute rollups, between the bounds when given.
async fn touch_everything(
    transaction: &Transaction<'_>,
    bounds: Option<(Option<OffsetDateTime>, Option<OffsetDateTime>)>,
) -> Result<u64, ImportError> {
    let (from, to) = bounds.unwrap_or((None, None));
    if from.is_none() && to.is_none() {
        // Every pack is rewritten from the rows below; emptying the table first also drops
        // packs of an earlier layout, whose starts the rewrite would not meet.
        transaction
            // DELETE, not TRUNCATE: readers keep the old packs until the commit rather than
            // wait for an ACCESS EXCLUSIVE lock.
            .batch_execute("DELETE FROM power_rollup_packs")
            .await
            .map_err(sql_error)?;
    }
    // Whole UTC days: a bound inside a day touches that day.
    let clause = |column: &str| {
        let mut conditions = Vec::new();
        if let Some(from) = from {
            conditions.push(format!(
                "{column} >= date_bin('24 hours', '{}'::timestamptz, 'epoch')",
                insights_core::format_utc(from)
            ));
        }
        if let Some(to) = to {
            conditions.push(format!(
                "{column} < date_bin('24 hours', '{}'::timestamptz, 'epoch') + interval '24 hours'",
                insights_core::format_utc(to)
            ));
        }
        if conditions.is_empty() {
            "true".to_owned()
        } else {
            conditions.join(" AND ")
        }
    };
    let select = format!(
        "SELECT duid, circuit_number, ts FROM power_samples WHERE {}
         UNION ALL
         SELECT duid, circuit_number, start FROM power_rollups WHERE span_s = 900 AND {}",
        clause("ts"),
        clause("start")
    );
    touch_days(transaction, &select).await
}

/// Whether [`refresh_rollups`] recomputes the 15-minute rows of the touched days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quarters {
    /// From the samples: a rebuild, which trusts no row.
    FromSamples,
    /// They are current: the batch has added its samples to them.
    Current,
}

/// Recomputes every rollup row that the days in `touched` take part in: the 15-minute rows
/// whole when `quarters` says so, the longer rows and packs where they end at or before
/// `final_before` (none when it is `None`), from the 15-minute rows.
async fn refresh_rollups(
    transaction: &Transaction<'_>,
    final_before: Option<i64>,
    quarters: Quarters,
) -> Result<(), ImportError> {
    let final_before = final_before.unwrap_or(i64::MIN);
    transaction
        .batch_execute(
            "CREATE TEMP TABLE IF NOT EXISTS touched (duid text, circuit_number int4, day timestamptz) ON COMMIT DROP;
             ANALYZE touched;",
        )
        .await
        .map_err(sql_error)?;
    if quarters == Quarters::FromSamples {
        transaction
            .batch_execute(concat!(
                // The samples waiting there are counted again from power_samples below.
                "DELETE FROM power_rollup_late p USING touched t
                 WHERE p.duid = t.duid AND p.circuit_number = t.circuit_number
                   AND p.start >= t.day AND p.start < t.day + interval '24 hours';
                 DELETE FROM power_rollups p USING touched t
                 WHERE p.duid = t.duid AND p.circuit_number = t.circuit_number AND p.span_s = 900
                   AND p.start >= t.day AND p.start < t.day + interval '24 hours';
                 INSERT INTO power_rollups
                 SELECT s.duid, s.circuit_number, 900, 0, date_bin('15 minutes', s.ts, 'epoch'), count(*),
                        sum(",
                whole_watts_sql!("s.watts"),
                ")::bigint, sum(",
                micro_watts_sql!("s.watts"),
                ")::bigint, min(s.watts), max(s.watts)
                 FROM touched t
                 JOIN power_samples s ON s.duid = t.duid AND s.circuit_number = t.circuit_number
                                     AND s.ts >= t.day AND s.ts < t.day + interval '24 hours'
                 GROUP BY 1, 2, 5
                 ORDER BY 1, 2, 5"
            ))
            .await
            .map_err(sql_error)?;
    }
    let islands = islands(transaction).await?;
    for group in groups(&islands) {
        refresh_sliding(transaction, group, final_before).await?;
        refresh_packs(transaction, group).await?;
    }
    for level in [Level::Days8, Level::Days64] {
        refresh_blocks(transaction, &islands, level, final_before).await?;
    }
    Ok(())
}

/// Each series' `[first, end)` ranges of `level`'s blocks that overlap its islands, merged
/// where they overlap or touch, so no block is computed twice.
fn block_ranges(islands: &[Island], level: Level) -> Vec<(&str, i32, i64, i64)> {
    let span = level.span_us();
    let mut ranges: Vec<(&str, i32, i64, i64)> = Vec::new();
    for island in islands {
        let first = island.first.div_euclid(span) * span;
        let end = (island.end + span - 1).div_euclid(span) * span;
        match ranges.last_mut() {
            Some(last)
                if last.0 == island.duid && last.1 == island.circuit_number && first <= last.3 =>
            {
                last.3 = last.3.max(end);
            }
            _ => ranges.push((&island.duid, island.circuit_number, first, end)),
        }
    }
    ranges
}

/// Recomputes the blocks of `level` (8 or 64 UTC days) that overlap the islands, from the
/// daily rows that start at UTC midnight, where they end at or before `final_before`.
async fn refresh_blocks(
    transaction: &Transaction<'_>,
    islands: &[Island],
    level: Level,
    final_before: i64,
) -> Result<(), ImportError> {
    let ranges = block_ranges(islands, level);
    let duids: Vec<&str> = ranges.iter().map(|range| range.0).collect();
    let numbers: Vec<i32> = ranges.iter().map(|range| range.1).collect();
    let firsts: Vec<i64> = ranges.iter().map(|range| range.2).collect();
    let ends: Vec<i64> = ranges.iter().map(|range| range.3).collect();
    // The blocks made again start before the last multiple of the span at or before the
    // watermark; all of them are deleted.
    let last_end = final_before
        .div_euclid(level.span_us())
        .saturating_mul(level.span_us());
    let made_ends: Vec<i64> = ends
        .iter()
        .zip(&firsts)
        .map(|(&end, &first)| end.min(last_end).max(first))
        .collect();
    let span_s = level.span_s();
    let deleted: [&(dyn ToSql + Sync); 5] = [&duids, &numbers, &firsts, &ends, &span_s];
    let made: [&(dyn ToSql + Sync); 5] = [&duids, &numbers, &firsts, &made_ends, &span_s];
    for (statement, params) in [
        "DELETE FROM power_rollups p
         USING unnest($1::text[], $2::int4[], $3::int8[], $4::int8[]) AS b(duid, circuit_number, first_us, end_us)
         WHERE p.duid = b.duid AND p.circuit_number = b.circuit_number AND p.span_s = $5::int4 AND p.phase_s = 0
           AND p.start >= to_timestamp(0) + b.first_us * interval '1 microsecond'
           AND p.start < to_timestamp(0) + b.end_us * interval '1 microsecond'",
        "INSERT INTO power_rollups
         SELECT d.duid, d.circuit_number, $5::int4, 0, date_bin($5::int4 * interval '1 second', d.start, 'epoch'),
                sum(d.n)::bigint, sum(d.int_sum)::bigint, sum(d.micro_sum)::bigint, min(d.min_watts), max(d.max_watts)
         FROM unnest($1::text[], $2::int4[], $3::int8[], $4::int8[]) AS b(duid, circuit_number, first_us, end_us)
         JOIN power_rollups d ON d.duid = b.duid AND d.circuit_number = b.circuit_number
              AND d.span_s = 86400 AND d.phase_s = 0
              AND d.start >= to_timestamp(0) + b.first_us * interval '1 microsecond'
              AND d.start < to_timestamp(0) + b.end_us * interval '1 microsecond'
         GROUP BY 1, 2, 5
         ORDER BY 1, 2, 5",
    ]
    .into_iter()
    .zip([deleted, made])
    {
        transaction
            .execute(statement, &params)
            .await
            .map_err(sql_error)?;
    }
    Ok(())
}

/// A series' run of touched days, `[first, end)` in µs since the epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Island {
    duid: String,
    circuit_number: i32,
    first: i64,
    end: i64,
}

impl Island {
    /// Hourly rows to recompute start in `[first - 45 min, end)`, daily rows in
    /// `[first - 1 day + 15 min, end)`: every row that overlaps a touched day.
    fn starts(&self, span: i64) -> (i64, i64) {
        (self.first - span + QUARTER_US, self.end)
    }

    /// The 15-minute rows the recomputation reads.
    fn reads(&self) -> (i64, i64) {
        (self.first - DAY_US, self.end + DAY_US)
    }
}

async fn islands(transaction: &Transaction<'_>) -> Result<Vec<Island>, ImportError> {
    let rows = transaction
        .query(
            "SELECT DISTINCT duid, circuit_number, (extract(epoch FROM day) * 1000000)::bigint AS day_us
             FROM touched ORDER BY duid, circuit_number, day_us",
            &[],
        )
        .await
        .map_err(sql_error)?;
    let mut islands: Vec<Island> = Vec::new();
    for row in &rows {
        let (duid, circuit_number, day): (String, i32, i64) = (row.get(0), row.get(1), row.get(2));
        match islands.last_mut() {
            // Days less than two apart share rows to recompute: one island.
            Some(last)
                if last.duid == duid
                    && last.circuit_number == circuit_number
                    && day <= last.end + DAY_US =>
            {
                last.end = day + DAY_US;
            }
            _ => islands.push(Island {
                duid,
                circuit_number,
                first: day,
                end: day + DAY_US,
            }),
        }
    }
    Ok(islands)
}

/// Splits islands into groups of about [`QUARTERS_PER_GROUP`] 15-minute rows.
fn groups(islands: &[Island]) -> impl Iterator<Item = &[Island]> {
    let mut rest = islands;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut quarters = 0usize;
        let mut taken = 0;
        while taken < rest.len() && (taken == 0 || quarters < QUARTERS_PER_GROUP) {
            let (from, to) = rest[taken].reads();
            quarters += ((to - from) / QUARTER_US) as usize;
            taken += 1;
        }
        let (group, tail) = rest.split_at(taken);
        rest = tail;
        Some(group)
    })
}

/// One 15-minute row, or a sum of them.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Aggregate {
    n: i64,
    int_sum: i64,
    micro_sum: i64,
    min: f64,
    max: f64,
}

impl Aggregate {
    fn merge(self, other: Aggregate) -> Aggregate {
        Aggregate {
            n: self.n + other.n,
            int_sum: self.int_sum + other.int_sum,
            micro_sum: self.micro_sum + other.micro_sum,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }
}

/// Recomputes the hourly and daily rows of a group of islands from their 15-minute rows.
async fn refresh_sliding(
    transaction: &Transaction<'_>,
    islands: &[Island],
    final_before: i64,
) -> Result<(), ImportError> {
    let duids: Vec<&str> = islands.iter().map(|island| island.duid.as_str()).collect();
    let numbers: Vec<i32> = islands.iter().map(|island| island.circuit_number).collect();
    let firsts: Vec<i64> = islands.iter().map(|island| island.first).collect();
    let ends: Vec<i64> = islands.iter().map(|island| island.end).collect();
    let keys: [&(dyn ToSql + Sync); 4] = [&duids, &numbers, &firsts, &ends];
    transaction
        .execute(
            "DELETE FROM power_rollups p
             USING unnest($1::text[], $2::int4[], $3::int8[], $4::int8[]) AS i(duid, circuit_number, first_us, end_us)
             WHERE p.duid = i.duid AND p.circuit_number = i.circuit_number AND p.span_s IN (3600, 86400)
               AND p.start >= to_timestamp(0) + (i.first_us - p.span_s * 1000000::int8 + 900000000) * interval '1 microsecond'
               AND p.start < to_timestamp(0) + i.end_us * interval '1 microsecond'",
            &keys,
        )
        .await
        .map_err(sql_error)?;
    let rows = transaction
        .query(
            "SELECT i.idx, (extract(epoch FROM p.start) * 1000000)::bigint AS start_us,
                    p.n, p.int_sum, p.micro_sum, p.min_watts, p.max_watts
             FROM unnest($1::text[], $2::int4[], $3::int8[], $4::int8[]) WITH ORDINALITY
                  AS i(duid, circuit_number, first_us, end_us, idx)
             JOIN power_rollups p ON p.duid = i.duid AND p.circuit_number = i.circuit_number
                  AND p.span_s = 900 AND p.phase_s = 0
                  AND p.start >= to_timestamp(0) + (i.first_us - 86400000000::int8) * interval '1 microsecond'
                  AND p.start < to_timestamp(0) + (i.end_us + 86400000000::int8) * interval '1 microsecond'
             ORDER BY i.idx, p.start",
            &keys,
        )
        .await
        .map_err(sql_error)?;
    let mut quarters: Vec<Vec<(i64, Aggregate)>> = vec![Vec::new(); islands.len()];
    for row in &rows {
        let index: i64 = row.get(0);
        quarters[(index - 1) as usize].push((
            row.get(1),
            Aggregate {
                n: row.get(2),
                int_sum: row.get(3),
                micro_sum: row.get(4),
                min: row.get(5),
                max: row.get(6),
            },
        ));
    }
    drop(rows);
    let writer = copy_in(
        transaction,
        "COPY power_rollups FROM STDIN (FORMAT binary)",
        &[
            Type::TEXT,
            Type::INT4,
            Type::INT4,
            Type::INT4,
            Type::TIMESTAMPTZ,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::FLOAT8,
            Type::FLOAT8,
        ],
    )
    .await?;
    futures_util::pin_mut!(writer);
    for (island, quarters) in islands.iter().zip(&quarters) {
        for span in [HOUR_US, DAY_US] {
            let (from, to) = island.starts(span);
            // In key order, so that a run of one phase (the days of consecutive buckets) sits
            // on a few heap pages instead of one page a row: a year of daily rows read 3 µs
            // a row when scattered, with most pages outside shared buffers.
            // Rows that end after the watermark are left to the batches that pass it.
            let to = to.min(final_before.saturating_sub(span).saturating_add(QUARTER_US));
            let mut rows: Vec<(i64, Aggregate)> = sliding(quarters, span, from, to).collect();
            rows.sort_by_key(|(start, _)| (start.rem_euclid(span), *start));
            for (start, aggregate) in rows {
                let span_s = (span / 1_000_000) as i32;
                let phase_s = (start.rem_euclid(span) / 1_000_000) as i32;
                let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(start) * 1000)
                    .map_err(|error| ImportError::Sql(error.to_string()))?;
                writer
                    .as_mut()
                    .write(&[
                        &island.duid.as_str(),
                        &island.circuit_number,
                        &span_s,
                        &phase_s,
                        &at,
                        &aggregate.n,
                        &aggregate.int_sum,
                        &aggregate.micro_sum,
                        &aggregate.min,
                        &aggregate.max,
                    ])
                    .await
                    .map_err(sql_error)?;
            }
        }
    }
    writer.finish().await.map_err(sql_error)?;
    Ok(())
}

/// The levels whose rows are packed (`power_rollup_packs`), as [`Level::pack_len`] says.
const PACKED: [Level; 2] = [Level::Hour, Level::Day];

/// Each pack, as (series, span in s, phase in s, start, end) in µs, that holds a row
/// [`refresh_sliding`] recomputes for `islands`, once each.
fn packs_touched(islands: &[Island]) -> BTreeSet<(&str, i32, i32, i32, i64, i64)> {
    let mut packs = BTreeSet::new();
    for island in islands {
        for level in PACKED {
            let Some(rows) = level.pack_len() else {
                continue;
            };
            let span = level.span_us();
            let (from, to) = island.starts(span);
            for phase in (0..span).step_by(QUARTER_US as usize) {
                // The first recomputed row of this phase.
                let first = from + (phase - from).rem_euclid(span);
                let Some(mut start) = plan::pack_start(level, first).filter(|_| first < to) else {
                    continue;
                };
                while start < to {
                    packs.insert((
                        island.duid.as_str(),
                        island.circuit_number,
                        level.span_s(),
                        (phase / 1_000_000) as i32,
                        start,
                        start + rows * span,
                    ));
                    start += rows * span;
                }
            }
        }
    }
    packs
}

/// Rewrites the packs that hold a row recomputed for `islands`, from the hourly and daily rows
/// of `power_rollups`, so a pack always holds exactly the rows that start inside it.
async fn refresh_packs(
    transaction: &Transaction<'_>,
    islands: &[Island],
) -> Result<(), ImportError> {
    let packs = packs_touched(islands);
    let duids: Vec<&str> = packs.iter().map(|pack| pack.0).collect();
    let numbers: Vec<i32> = packs.iter().map(|pack| pack.1).collect();
    let spans: Vec<i32> = packs.iter().map(|pack| pack.2).collect();
    let phases: Vec<i32> = packs.iter().map(|pack| pack.3).collect();
    let starts: Vec<i64> = packs.iter().map(|pack| pack.4).collect();
    let ends: Vec<i64> = packs.iter().map(|pack| pack.5).collect();
    let params: [&(dyn ToSql + Sync); 6] = [&duids, &numbers, &spans, &phases, &starts, &ends];
    for statement in [
        "DELETE FROM power_rollup_packs p
         USING unnest($1::text[], $2::int4[], $3::int4[], $4::int4[], $5::int8[], $6::int8[])
               AS k(duid, circuit_number, span_s, phase_s, start_us, end_us)
         WHERE p.duid = k.duid AND p.circuit_number = k.circuit_number AND p.span_s = k.span_s
           AND p.phase_s = k.phase_s AND p.start = to_timestamp(0) + k.start_us * interval '1 microsecond'",
        concat!(
            "INSERT INTO power_rollup_packs
             SELECT k.duid, k.circuit_number, k.span_s, k.phase_s, k.start, ",
            pack_entries_sql!("r.", "k.start", "k.span_s"),
            "
         FROM (SELECT duid, circuit_number, span_s, phase_s,
                      to_timestamp(0) + start_us * interval '1 microsecond' AS start,
                      to_timestamp(0) + end_us * interval '1 microsecond' AS end_at
               FROM unnest($1::text[], $2::int4[], $3::int4[], $4::int4[], $5::int8[], $6::int8[])
                    AS k(duid, circuit_number, span_s, phase_s, start_us, end_us)) AS k
         JOIN power_rollups r ON r.duid = k.duid AND r.circuit_number = k.circuit_number
              AND r.span_s = k.span_s AND r.phase_s = k.phase_s
              AND r.start >= k.start AND r.start < k.end_at
         GROUP BY k.duid, k.circuit_number, k.span_s, k.phase_s, k.start
         ORDER BY k.duid, k.circuit_number, k.span_s, k.phase_s, k.start"
        ),
    ] {
        transaction
            .execute(statement, &params)
            .await
            .map_err(sql_error)?;
    }
    Ok(())
}

/// The aggregate of `[start, start + span)` for every start on the 15-minute grid in
/// `[from, to)` whose span holds a 15-minute row; `quarters` are sorted by start.
fn sliding(
    quarters: &[(i64, Aggregate)],
    span: i64,
    from: i64,
    to: i64,
) -> impl Iterator<Item = (i64, Aggregate)> + '_ {
    let mut first = quarters.partition_point(|(start, _)| *start < from);
    let mut start = from;
    std::iter::from_fn(move || loop {
        if start >= to {
            return None;
        }
        while first < quarters.len() && quarters[first].0 < start {
            first += 1;
        }
        // Skip straight to the next start whose span holds a row.
        let next = quarters.get(first)?.0;
        if next >= start + span {
            start = (next - span + QUARTER_US).max(start + QUARTER_US);
            continue;
        }
        let aggregate = quarters[first..]
            .iter()
            .take_while(|(at, _)| *at < start + span)
            .map(|(_, aggregate)| *aggregate)
            .reduce(Aggregate::merge)?;
        let answer = (start, aggregate);
        start += QUARTER_US;
        return Some(answer);
    })
}

/// Recomputes every rollup row in SQL, into `rollup_expected` (quarters from the samples,
/// hours from four quarters, days from 24 hours of one phase, blocks of 8 and 64 days from
/// days, the longer rows only up to the watermark), and lists in `rollup_mismatch`
/// each row that is missing, extra or different, as a reader sees it: with the late samples
/// waiting in `power_rollup_late` added to every row that holds their quarter. Sums are
/// integers, so they match exactly. Then each gap count and interval against a recount from
/// the samples.
const VERIFY_SQL: &str = concat!("
CREATE TEMP TABLE rollup_expected ON COMMIT DROP AS
SELECT duid, circuit_number, 900 AS span_s, 0 AS phase_s, date_bin('15 minutes', ts, 'epoch') AS start,
       count(*)::bigint AS n, sum(whole)::bigint AS int_sum, sum(micro)::bigint AS micro_sum,
       min(watts) AS min_watts, max(watts) AS max_watts
FROM (SELECT duid, circuit_number, ts, watts, ", sample_parts_sql!("watts"), " FROM power_samples)
     AS s(duid, circuit_number, ts, watts, whole, micro)
GROUP BY 1, 2, 5;
INSERT INTO rollup_expected
SELECT q.duid, q.circuit_number, 3600, mod(mod(extract(epoch FROM c.start)::bigint, 3600) + 3600, 3600)::int,
       c.start, sum(q.n)::bigint, sum(q.int_sum)::bigint, sum(q.micro_sum)::bigint, min(q.min_watts), max(q.max_watts)
FROM (SELECT * FROM rollup_expected WHERE span_s = 900) AS q
CROSS JOIN LATERAL generate_series(q.start - interval '45 minutes', q.start, interval '15 minutes') AS c(start)
GROUP BY 1, 2, 3, 4, 5;
-- A day is the 24 hours of its phase that tile it, so each hourly row joins 24 days.
INSERT INTO rollup_expected
SELECT h.duid, h.circuit_number, 86400, mod(mod(extract(epoch FROM c.start)::bigint, 86400) + 86400, 86400)::int,
       c.start, sum(h.n)::bigint, sum(h.int_sum)::bigint, sum(h.micro_sum)::bigint, min(h.min_watts), max(h.max_watts)
FROM (SELECT * FROM rollup_expected WHERE span_s = 3600) AS h
CROSS JOIN LATERAL generate_series(h.start - interval '23 hours', h.start, interval '1 hour') AS c(start)
GROUP BY 1, 2, 3, 4, 5;
-- Blocks of 8 and 64 UTC days from the days that start at UTC midnight.
INSERT INTO rollup_expected
SELECT d.duid, d.circuit_number, w.span_s, 0, date_bin(w.span_s * interval '1 second', d.start, 'epoch'),
       sum(d.n)::bigint, sum(d.int_sum)::bigint, sum(d.micro_sum)::bigint, min(d.min_watts), max(d.max_watts)
FROM (SELECT * FROM rollup_expected WHERE span_s = 86400 AND phase_s = 0) AS d
CROSS JOIN (VALUES (691200), (5529600)) AS w(span_s)
GROUP BY 1, 2, 3, 4, 5;
-- Late samples waiting in power_rollup_late, as readers add them: to every row that holds
-- their quarter.
CREATE TEMP TABLE rollup_late_by_row ON COMMIT DROP AS
SELECT d.duid, d.circuit_number, w.span_s, mod(mod(extract(epoch FROM c.start)::bigint, w.span_s) + w.span_s, w.span_s)::int AS phase_s,
       c.start, sum(d.n)::bigint AS n, sum(d.int_sum)::bigint AS int_sum, sum(d.micro_sum)::bigint AS micro_sum,
       min(d.min_watts) AS min_watts, max(d.max_watts) AS max_watts
FROM power_rollup_late d
CROSS JOIN (VALUES (900), (3600), (86400), (691200), (5529600)) AS w(span_s)
CROSS JOIN LATERAL (
    SELECT generate_series(d.start - (w.span_s - 900) * interval '1 second', d.start, interval '15 minutes')
    WHERE w.span_s <= 86400
    UNION ALL
    SELECT date_bin(w.span_s * interval '1 second', d.start, 'epoch') WHERE w.span_s > 86400) AS c(start)
GROUP BY 1, 2, 3, 4, 5;
-- Rows longer than 15 minutes exist only where they end at or before the watermark.
DELETE FROM rollup_expected
WHERE span_s <> 900
  AND start + span_s * interval '1 second' > coalesce(
      (SELECT to_timestamp(0) + value * interval '1 microsecond' FROM power_sample_facts WHERE name = 'final_before_us'),
      '-infinity');
DELETE FROM rollup_late_by_row
WHERE span_s <> 900
  AND start + span_s * interval '1 second' > coalesce(
      (SELECT to_timestamp(0) + value * interval '1 microsecond' FROM power_sample_facts WHERE name = 'final_before_us'),
      '-infinity');
CREATE TEMP TABLE rollup_mismatch ON COMMIT DROP AS
SELECT format('%s/%s span %s s at %s: expected %s, stored %s',
              coalesce(e.duid, p.duid), coalesce(e.circuit_number, p.circuit_number),
              coalesce(e.span_s, p.span_s), coalesce(e.start, p.start),
              CASE WHEN e.n IS NULL THEN 'no row' ELSE format('n=%s int=%s micro=%s min=%s max=%s', e.n, e.int_sum, e.micro_sum, e.min_watts, e.max_watts) END,
              CASE WHEN p.n IS NULL THEN 'no row' ELSE format('n=%s int=%s micro=%s min=%s max=%s', p.n, p.int_sum, p.micro_sum, p.min_watts, p.max_watts) END) AS line
FROM rollup_expected e
FULL JOIN (SELECT duid, circuit_number, span_s, phase_s, start,
                  coalesce(r.n, 0) + coalesce(l.n, 0) AS n,
                  coalesce(r.int_sum, 0) + coalesce(l.int_sum, 0) AS int_sum,
                  coalesce(r.micro_sum, 0) + coalesce(l.micro_sum, 0) AS micro_sum,
                  least(r.min_watts, l.min_watts) AS min_watts,
                  greatest(r.max_watts, l.max_watts) AS max_watts
           FROM power_rollups r
           FULL JOIN rollup_late_by_row l USING (duid, circuit_number, span_s, phase_s, start)) AS p
     ON p.duid = e.duid AND p.circuit_number = e.circuit_number
     AND p.span_s = e.span_s AND p.phase_s = e.phase_s AND p.start = e.start
WHERE e.n IS NULL OR p.n IS NULL OR e.n <> p.n OR e.int_sum <> p.int_sum
   OR e.micro_sum <> p.micro_sum OR e.min_watts <> p.min_watts OR e.max_watts <> p.max_watts;
INSERT INTO rollup_mismatch
SELECT format('%s/%s gap of %s ns: expected %s, stored %s',
              coalesce(e.duid, g.duid), coalesce(e.circuit_number, g.circuit_number),
              coalesce(e.gap_ns, g.gap_ns), coalesce(e.n::text, 'none'), coalesce(g.n::text, 'none'))
FROM (SELECT duid, circuit_number, gap_ns, count(*)::bigint AS n FROM (
          SELECT duid, circuit_number, ", gap_ns_sql!("duid, circuit_number"), " AS gap_ns
          FROM power_samples) AS spacing
      WHERE gap_ns IS NOT NULL GROUP BY 1, 2, 3) AS e
FULL JOIN power_sample_gaps g ON g.duid = e.duid AND g.circuit_number = e.circuit_number AND g.gap_ns = e.gap_ns
WHERE e.n IS DISTINCT FROM g.n;
INSERT INTO rollup_mismatch
SELECT format('%s/%s interval: expected %s ns, stored %s',
              coalesce(e.duid, i.duid), coalesce(e.circuit_number, i.circuit_number),
              coalesce(e.gap_ns::text, 'none'), coalesce(i.interval_ns::text, 'none'))
FROM (SELECT DISTINCT ON (duid, circuit_number) duid, circuit_number, gap_ns
      FROM power_sample_gaps ORDER BY duid, circuit_number, n DESC, gap_ns) AS e
FULL JOIN power_series_intervals i ON i.duid = e.duid AND i.circuit_number = e.circuit_number
WHERE e.gap_ns IS DISTINCT FROM i.interval_ns;
INSERT INTO rollup_mismatch
SELECT format('%s/%s has samples but is not in power_series', s.duid, s.circuit_number)
FROM (SELECT DISTINCT duid, circuit_number FROM power_samples) AS s
WHERE NOT EXISTS (SELECT FROM power_series p WHERE p.duid = s.duid AND p.circuit_number = s.circuit_number);
");

/// Lists in `rollup_mismatch` each pack that is missing, extra, or holds other than the
/// hourly or daily rows of `power_rollups` that start inside it. Packs are copies, so they
/// must match exactly, fractional sums too.
fn verify_packs_sql() -> String {
    // A pack's length in seconds, by span, from the layout the reads use.
    let lengths: String = PACKED
        .iter()
        .filter_map(|level| {
            let rows = level.pack_len()?;
            Some(format!(
                " WHEN {} THEN {}",
                level.span_s(),
                rows * i64::from(level.span_s())
            ))
        })
        .collect();
    format!(
        "INSERT INTO rollup_mismatch
SELECT format('%s/%s pack of span %s s at %s: expected %s, stored %s',
              coalesce(e.duid, p.duid), coalesce(e.circuit_number, p.circuit_number),
              coalesce(e.span_s, p.span_s), coalesce(e.start, p.start),
              CASE WHEN e.entries IS NULL THEN 'no pack' ELSE format('%s rows, md5 %s', length(e.entries) / 44, md5(e.entries)) END,
              CASE WHEN p.entries IS NULL THEN 'no pack' ELSE format('%s rows, md5 %s', length(p.entries) / 44, md5(p.entries)) END)
FROM (SELECT duid, circuit_number, span_s, phase_s, pack AS start, {entries} AS entries
      FROM (SELECT r.*, {pack} AS pack
            FROM power_rollups r
            CROSS JOIN LATERAL (SELECT CASE r.span_s{lengths} END AS length_s) AS l
            WHERE l.length_s IS NOT NULL) AS rows
      GROUP BY duid, circuit_number, span_s, phase_s, pack) AS e
FULL JOIN power_rollup_packs p ON p.duid = e.duid AND p.circuit_number = e.circuit_number
     AND p.span_s = e.span_s AND p.phase_s = e.phase_s AND p.start = e.start
WHERE e.entries IS DISTINCT FROM p.entries",
        entries = pack_entries_sql!("", "pack", "span_s"),
        pack = pack_start_sql!("r.", "l.length_s"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: i64 = QUARTER_US;

    fn row(n: i64) -> Aggregate {
        Aggregate {
            n,
            int_sum: n * 10,
            micro_sum: 0,
            min: n as f64,
            max: n as f64,
        }
    }

    fn check(quarters: &[(i64, i64)], span: i64, from: i64, to: i64, expected: &[(i64, i64, f64)]) {
        let quarters: Vec<(i64, Aggregate)> =
            quarters.iter().map(|&(at, n)| (at * Q, row(n))).collect();
        let actual: Vec<(i64, i64, f64)> = sliding(&quarters, span, from * Q, to * Q)
            .map(|(start, aggregate)| (start / Q, aggregate.n, aggregate.max))
            .collect();
        assert_eq!(actual, expected, "quarters {quarters:?}, span {span}");
    }

    #[test]
    fn sums_every_span_that_holds_a_row() {
        // Hours over quarters 0, 1 and 6: starts -3..=1 hold 0 or 1, 3..=6 hold 6.
        check(
            &[(0, 1), (1, 2), (6, 4)],
            HOUR_US,
            -3,
            8,
            &[
                (-3, 1, 1.0),
                (-2, 3, 2.0),
                (-1, 3, 2.0),
                (0, 3, 2.0),
                (1, 2, 2.0),
                (3, 4, 4.0),
                (4, 4, 4.0),
                (5, 4, 4.0),
                (6, 4, 4.0),
            ],
        );
        // Only the asked-for starts.
        check(&[(0, 1), (1, 2)], HOUR_US, 0, 1, &[(0, 3, 2.0)]);
        check(&[], DAY_US, 0, 100, &[]);
        // A day sums 96 quarters.
        let day: Vec<(i64, i64)> = (0..96).map(|at| (at, 1)).collect();
        let quarters: Vec<(i64, Aggregate)> = day.iter().map(|&(at, n)| (at * Q, row(n))).collect();
        let first = sliding(&quarters, DAY_US, 0, Q).next().unwrap();
        assert_eq!((first.0, first.1.n, first.1.int_sum), (0, 96, 960));
    }

    #[test]
    fn islands_group_by_the_rows_they_read() {
        let island = |first: i64| Island {
            duid: "A".into(),
            circuit_number: 1,
            first: first * DAY_US,
            end: (first + 1) * DAY_US,
        };
        let islands: Vec<Island> = (0..2000).map(|day| island(day * 3)).collect();
        let sizes: Vec<usize> = groups(&islands).map(<[Island]>::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 2000);
        // Each island reads 3 days of 96 quarters.
        assert!(
            sizes
                .iter()
                .all(|&size| size <= QUARTERS_PER_GROUP / 288 + 1),
            "{sizes:?}"
        );
    }
}
