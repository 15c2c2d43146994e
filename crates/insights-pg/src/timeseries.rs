//! A [`TimeSeriesSource`] over the `power_samples` table (`db/timeseries.sql`): every
//! aggregate runs in SQL, so only one row per series and range leaves the database.
//!
//! PostgreSQL keeps microseconds. Window and range edges are rounded up to the microsecond,
//! which selects exactly the same samples as nanosecond edges would, because every stored
//! sample is on a whole microsecond (the import refuses finer ones).

use std::fmt;

use insights_core::{SeriesKey, TimeSeriesError, TimeSeriesSource, TotalWatts, UsageStats, Window};
use time::{Duration, OffsetDateTime};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_postgres::Row;

use crate::{Database, DbError, PgConfig, PgSetupError};

/// The schema of the table, applied by the import.
pub const SCHEMA_SQL: &str = include_str!("../../../db/timeseries.sql");

/// The interval assumed for an empty table, as the file source assumes.
const FALLBACK_INTERVAL: Duration = Duration::minutes(1);

const INTERVAL: &str =
    "SELECT value AS interval_ns FROM power_sample_facts WHERE name = 'nominal_interval_ns'";

/// Aggregates per series over `[$3, $4)`. Whole-watt samples are summed as integers so sums
/// are exact, as the file source's are; others as floats.
const WINDOW_STATS: &str = "
    SELECT k.idx AS series, count(*) AS n,
           (sum(s.watts::bigint) FILTER (WHERE s.watts = trunc(s.watts)))::bigint AS int_sum,
           sum(s.watts) FILTER (WHERE s.watts <> trunc(s.watts)) AS real_sum,
           min(s.watts) AS min_watts, max(s.watts) AS max_watts
    FROM unnest($1::text[], $2::int4[]) WITH ORDINALITY AS k(duid, circuit_number, idx)
    JOIN power_samples s ON s.duid = k.duid AND s.circuit_number = k.circuit_number
                        AND s.ts >= $3 AND s.ts < $4
    GROUP BY k.idx";

/// Aggregates per series and range between consecutive edges of `$3`.
const RANGE_STATS: &str = "
    SELECT k.idx AS series, width_bucket(s.ts, $3::timestamptz[]) AS range, count(*) AS n,
           (sum(s.watts::bigint) FILTER (WHERE s.watts = trunc(s.watts)))::bigint AS int_sum,
           sum(s.watts) FILTER (WHERE s.watts <> trunc(s.watts)) AS real_sum,
           min(s.watts) AS min_watts, max(s.watts) AS max_watts
    FROM unnest($1::text[], $2::int4[]) WITH ORDINALITY AS k(duid, circuit_number, idx)
    JOIN power_samples s ON s.duid = k.duid AND s.circuit_number = k.circuit_number
                        AND s.ts >= ($3::timestamptz[])[1]
                        AND s.ts < ($3::timestamptz[])[cardinality($3::timestamptz[])]
    GROUP BY k.idx, range";

/// The most common spacing between neighbouring samples of a series; a tie goes to the
/// shorter spacing, as in the file source.
const MEASURE_INTERVAL: &str = "
    WITH spacing AS (
        SELECT ts - lag(ts) OVER (PARTITION BY duid, circuit_number ORDER BY ts) AS gap FROM power_samples
    )
    SELECT (extract(epoch FROM gap) * 1000000000)::bigint AS interval_ns FROM spacing WHERE gap IS NOT NULL
    GROUP BY gap ORDER BY count(*) DESC, gap ASC LIMIT 1";

/// Power samples read from PostgreSQL.
#[derive(Clone)]
pub struct PgTimeSeries {
    db: Database,
    interval: Duration,
}

impl fmt::Debug for PgTimeSeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTimeSeries")
            .field("database", &self.db.describe())
            .field("interval", &self.interval)
            .finish()
    }
}

impl PgTimeSeries {
    /// Connects and reads the nominal interval the import recorded.
    pub async fn connect(config: &PgConfig) -> Result<PgTimeSeries, PgSetupError> {
        let db = Database::new(config)?;
        let rows = db.query(INTERVAL, &[]).await.map_err(|error| match error {
            DbError::Unavailable(reason) => PgSetupError::Unreachable(reason),
            DbError::Broken(_) => PgSetupError::NotImported,
        })?;
        let nanos: i64 = rows
            .first()
            .and_then(|row| row.try_get("interval_ns").ok())
            .ok_or(PgSetupError::NotImported)?;
        Ok(PgTimeSeries {
            db,
            interval: Duration::nanoseconds(nanos),
        })
    }

    /// Where the source reads from, for logs, never with the password.
    pub fn describe(&self) -> &str {
        self.db.describe()
    }

    /// The pool's connections right now, for operators.
    pub fn pool_status(&self) -> crate::PoolStatus {
        self.db.pool_status()
    }
}

/// An instant rounded up to PostgreSQL's microsecond.
fn ceil_micros(instant: OffsetDateTime) -> OffsetDateTime {
    let nanos = instant.unix_timestamp_nanos();
    let micros = nanos.div_euclid(1000) + i128::from(nanos.rem_euclid(1000) != 0);
    OffsetDateTime::from_unix_timestamp_nanos(micros * 1000).unwrap_or(instant)
}

fn keys(series: &[SeriesKey]) -> (Vec<&str>, Vec<i32>) {
    series
        .iter()
        .map(|key| {
            (
                key.duid.as_str(),
                i32::try_from(key.circuit_number).unwrap_or(i32::MAX),
            )
        })
        .unzip()
}

/// A named column of a row, or why the row is not as the query promised.
fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    name: &str,
) -> Result<T, TimeSeriesError> {
    row.try_get(name).map_err(|error| TimeSeriesError::Failed {
        reason: format!("unexpected row shape at column {name}: {error}"),
    })
}

/// Reads the columns `n`, `int_sum`, `real_sum`, `min_watts` and `max_watts`.
fn stats(row: &Row) -> Result<UsageStats, TimeSeriesError> {
    let count: i64 = column(row, "n")?;
    let integer: Option<i64> = column(row, "int_sum")?;
    let real: Option<f64> = column(row, "real_sum")?;
    let min: Option<f64> = column(row, "min_watts")?;
    let max: Option<f64> = column(row, "max_watts")?;
    let total = TotalWatts {
        integer: i128::from(integer.unwrap_or(0)),
        real: real.unwrap_or(0.0),
    };
    Ok(UsageStats::from_parts(
        count as u64,
        total,
        min.unwrap_or(f64::NAN),
        max.unwrap_or(f64::NAN),
    ))
}

impl TimeSeriesSource for PgTimeSeries {
    fn nominal_interval(&self) -> Duration {
        self.interval
    }

    async fn window_stats(
        &self,
        series: &[SeriesKey],
        window: &Window,
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        let (duids, numbers) = keys(series);
        let (start, end) = (ceil_micros(window.start()), ceil_micros(window.end()));
        let rows = self
            .db
            .query(WINDOW_STATS, &[&duids, &numbers, &start, &end])
            .await?;
        let mut answer = vec![UsageStats::EMPTY; series.len()];
        for row in &rows {
            let index: i64 = column(row, "series")?;
            if let Some(slot) = usize::try_from(index - 1)
                .ok()
                .and_then(|index| answer.get_mut(index))
            {
                *slot = stats(row)?;
            }
        }
        Ok(answer)
    }

    async fn range_stats(
        &self,
        series: &[SeriesKey],
        edges: &[OffsetDateTime],
    ) -> Result<Vec<Vec<UsageStats>>, TimeSeriesError> {
        let n_ranges = edges.len().saturating_sub(1);
        let mut answer = vec![vec![UsageStats::EMPTY; n_ranges]; series.len()];
        if n_ranges == 0 || series.is_empty() {
            return Ok(answer);
        }
        let (duids, numbers) = keys(series);
        let edges: Vec<OffsetDateTime> = edges.iter().copied().map(ceil_micros).collect();
        let rows = self
            .db
            .query(RANGE_STATS, &[&duids, &numbers, &edges])
            .await?;
        for row in &rows {
            let index: i64 = column(row, "series")?;
            let range: i32 = column(row, "range")?;
            // width_bucket counts the edges at or before a sample, so range i is [edge i-1, edge i).
            if let Some(slot) = usize::try_from(index - 1)
                .ok()
                .and_then(|index| answer.get_mut(index))
                .zip(usize::try_from(range - 1).ok())
                .and_then(|(ranges, range)| ranges.get_mut(range))
            {
                *slot = stats(row)?;
            }
        }
        Ok(answer)
    }
}

/// What an import did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportReport {
    /// Samples offered.
    pub offered: u64,
    /// Samples that were new; the rest were already there.
    pub inserted: u64,
    /// The nominal interval of everything in the table afterwards.
    pub interval: Duration,
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
        }
    }
}

impl std::error::Error for ImportError {}

/// Loads samples `(series, ns since the epoch, watts)` with binary COPY, creating the schema
/// and the monthly partitions they need. Samples already present are left as they are, so
/// importing the same file twice adds nothing.
pub async fn import(
    url: &str,
    samples: impl Iterator<Item = (SeriesKey, i64, f64)>,
) -> Result<ImportReport, ImportError> {
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|error| ImportError::Connect(crate::describe_sql_error(&error)))?;
    let driver = tokio::spawn(connection);
    let sql_error =
        |error: tokio_postgres::Error| ImportError::Sql(crate::describe_sql_error(&error));
    client.batch_execute(SCHEMA_SQL).await.map_err(sql_error)?;
    let transaction = client.transaction().await.map_err(sql_error)?;
    transaction
        .batch_execute("CREATE TEMP TABLE staged (duid text, circuit_number int4, ts timestamptz, watts float8) ON COMMIT DROP")
        .await
        .map_err(sql_error)?;
    let sink = transaction
        .copy_in("COPY staged FROM STDIN (FORMAT binary)")
        .await
        .map_err(sql_error)?;
    let writer = BinaryCopyInWriter::new(
        sink,
        &[Type::TEXT, Type::INT4, Type::TIMESTAMPTZ, Type::FLOAT8],
    );
    futures_util::pin_mut!(writer);
    let mut offered = 0u64;
    let mut months = std::collections::BTreeSet::new();
    for (key, nanos, watts) in samples {
        if nanos % 1000 != 0 {
            return Err(ImportError::FinerThanMicroseconds { series: key, nanos });
        }
        let at = match OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)) {
            Ok(at) => at,
            Err(error) => {
                return Err(ImportError::OutOfRange {
                    series: key,
                    reason: error.to_string(),
                })
            }
        };
        months.insert((at.year(), at.month()));
        let Ok(number) = i32::try_from(key.circuit_number) else {
            return Err(ImportError::OutOfRange {
                reason: format!("circuit number {} is too large", key.circuit_number),
                series: key,
            });
        };
        writer
            .as_mut()
            .write(&[&key.duid.as_str(), &number, &at, &watts])
            .await
            .map_err(sql_error)?;
        offered += 1;
    }
    writer.finish().await.map_err(sql_error)?;
    for (year, month) in months {
        let invalid = |error: time::error::ComponentRange| ImportError::Sql(error.to_string());
        let from = time::Date::from_calendar_date(year, month, 1).map_err(invalid)?;
        let (next_year, next_month) = if month == time::Month::December {
            (year + 1, time::Month::January)
        } else {
            (year, month.next())
        };
        let to = time::Date::from_calendar_date(next_year, next_month, 1).map_err(invalid)?;
        let statement = format!(
            "CREATE TABLE IF NOT EXISTS power_samples_y{year:04}m{:02} PARTITION OF power_samples FOR VALUES FROM ('{from} 00:00:00+00') TO ('{to} 00:00:00+00')",
            u8::from(month)
        );
        transaction
            .batch_execute(&statement)
            .await
            .map_err(sql_error)?;
    }
    let inserted = transaction
        .execute(
            "INSERT INTO power_samples SELECT * FROM staged ON CONFLICT DO NOTHING",
            &[],
        )
        .await
        .map_err(sql_error)?;
    let measured: Option<i64> = transaction
        .query_opt(MEASURE_INTERVAL, &[])
        .await
        .map_err(sql_error)?
        .and_then(|row| row.try_get("interval_ns").ok());
    let interval_ns = measured.unwrap_or(FALLBACK_INTERVAL.whole_nanoseconds() as i64);
    transaction
        .execute(
            "INSERT INTO power_sample_facts VALUES ('nominal_interval_ns', $1) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            &[&interval_ns],
        )
        .await
        .map_err(sql_error)?;
    transaction.commit().await.map_err(sql_error)?;
    drop(client);
    let _ = driver.await;
    Ok(ImportReport {
        offered,
        inserted,
        interval: Duration::nanoseconds(interval_ns),
    })
}
