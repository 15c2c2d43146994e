//! A [`TimeSeriesSource`] over the `power_samples` table (`db/timeseries.sql`): each range is
//! read from rollup rows where it covers whole quarters, hours and days, and from raw samples
//! only at its edges ([`crate::plan`]). Those runs are aggregated in SQL, one row per series
//! and range; long runs of hourly and daily rows come from packs, unpacked and added up here.
//!
//! PostgreSQL keeps microseconds. Window and range edges are rounded up to the microsecond,
//! which selects exactly the same samples as nanosecond edges would, because every stored
//! sample is on a whole microsecond (the import refuses finer ones).

use std::fmt;
use std::sync::Arc;

use insights_core::{
    Extent, RangeStats, SeriesKey, TimeSeriesError, TimeSeriesSource, TotalWatts, UsageStats,
    Window, FALLBACK_INTERVAL,
};
use time::{Duration, OffsetDateTime};
use tokio_postgres::types::Type;
use tokio_postgres::Row;

use crate::replicas::{ReplicaConfig, ReplicaStatus, Sources};
use crate::{plan, Database, DbError, Param, PgConfig, PgSetupError};

/// [`FALLBACK_INTERVAL`] in ns, for the series without a row in `power_series_intervals`.
macro_rules! fallback_interval_ns {
    () => {
        "60000000000"
    };
}
const _: () = assert!(FALLBACK_INTERVAL.whole_nanoseconds() == 60_000_000_000);

/// The series `($1, $2)` as `k(duid, circuit_number, idx, interval_ns)`, each with its
/// nominal interval from `power_series_intervals` (or the fallback), joined once a series.
/// `OFFSET 0` keeps the join inside: flattened, the planner joined the intervals last, once
/// for every row a statement read, filtering the whole table each time (the 900 packs of a
/// 14-day hourly window of 60 series: 4.4 to 5.4 ms a statement, 2.8 to 3.4 ms fenced).
macro_rules! series_with_intervals {
    () => {
        concat!(
            "(SELECT k.duid, k.circuit_number, k.idx,
                     coalesce(iv.interval_ns, ",
            fallback_interval_ns!(),
            ") AS interval_ns
              FROM unnest($1::text[], $2::int4[]) WITH ORDINALITY AS k(duid, circuit_number, idx)
              LEFT JOIN power_series_intervals iv
                ON iv.duid = k.duid AND iv.circuit_number = k.circuit_number
              OFFSET 0) AS k"
        )
    };
}

/// The nominal interval in ns of the series `k` of [`series_with_intervals`].
macro_rules! interval_ns {
    () => {
        "k.interval_ns"
    };
}

/// The earliest and latest sample over the series `($1, $2)`, in microseconds since the
/// epoch, and the shortest interval among those with samples: two index probes per series on
/// the primary key, whatever the series' length.
const EXTENT: &str = concat!(
    "
    SELECT (extract(epoch FROM min(e.first)) * 1000000)::bigint AS first_us,
           (extract(epoch FROM max(e.last)) * 1000000)::bigint AS last_us,
           min(",
    interval_ns!(),
    ") FILTER (WHERE e.first IS NOT NULL) AS interval_ns
    FROM ",
    series_with_intervals!(),
    "
    CROSS JOIN LATERAL (
        SELECT (SELECT p.ts FROM power_samples p
                WHERE p.duid = k.duid AND p.circuit_number = k.circuit_number
                ORDER BY p.ts LIMIT 1) AS first,
               (SELECT p.ts FROM power_samples p
                WHERE p.duid = k.duid AND p.circuit_number = k.circuit_number
                ORDER BY p.ts DESC LIMIT 1) AS last
    ) AS e"
);

/// Whether any of the series `($1, $2)` has a sample at or after `$3`: one index probe a
/// series, in the partitions from `$3` on (pruned when the statement runs), stopping at the
/// first series that has one.
const HAS_SAMPLES_FROM: &str = "
    SELECT EXISTS (
        SELECT FROM unnest($1::text[], $2::int4[]) AS k(duid, circuit_number)
        WHERE EXISTS (SELECT FROM power_samples p
                      WHERE p.duid = k.duid AND p.circuit_number = k.circuit_number
                        AND p.ts >= $3::timestamptz)
    ) AS found";

/// The rollup layout version the last import recorded, and whether any sample is stored: what
/// [`PgTimeSeries::connect`] tells a usable store from an empty or outdated one by.
const RECORDED_ROLLUP_LAYOUT: &str = "
    SELECT (SELECT value FROM power_sample_facts WHERE name = 'rollup_version') AS version,
           EXISTS (SELECT FROM power_samples) AS has_samples";

/// The late samples of series `k` waiting in `power_rollup_late` (`db/timeseries.sql`) whose
/// 15-minute row starts in `[$lo, $hi)`, two parameters of timestamptz[]: one index scan a
/// series, between the earliest and the latest of the bounds; none when nothing waits, which
/// the statement asks once (an uncorrelated subquery runs once and gates the scans), since
/// with nothing waiting a scan a series cost a 120-day window about 0.3 ms of its 3. It asks
/// from the end of the key: settling works from its start, so the entries it deleted, dead
/// until a vacuum, are not walked while anything waits.
macro_rules! late_quarters {
    ($lo:literal, $hi:literal) => {
        concat!(
            "FROM power_rollup_late d
             WHERE (SELECT true FROM power_rollup_late
                    ORDER BY duid DESC, circuit_number DESC, start DESC LIMIT 1)
               AND d.duid = k.duid AND d.circuit_number = k.circuit_number
               AND d.start >= (SELECT min(lo) FROM unnest(",
            $lo,
            "::timestamptz[]) AS lo)
               AND d.start < (SELECT max(hi) FROM unnest(",
            $hi,
            "::timestamptz[]) AS hi)"
        )
    };
}

/// Aggregates between consecutive edges of `$7`, reading the runs `($3, $4, $5, $6)` of
/// [`crate::plan`] through `$rows`, and the late samples waiting in the runs of rollup rows,
/// which no rollup row holds yet. No rollup row crosses an edge, so a row's range is that of
/// its start, and a late quarter's that of the row that holds it. Rows are grouped by the
/// series' nominal interval too, which each row carries: each sample stands for its own
/// series' interval. `$select` and `$group` add the series to the row and the grouping, or
/// not.
macro_rules! stats_query {
    ($select:literal, $group:literal, $rows:expr) => {
        concat!(
            // Materialized: matching a late quarter to a run reads this, not the arrays.
            "WITH late_runs AS MATERIALIZED (
                 SELECT r.lo, r.hi
                 FROM unnest($3::int4[], $5::timestamptz[], $6::timestamptz[]) AS r(span_s, lo, hi)
                 WHERE r.span_s <> 0)
            SELECT ",
            $select,
            " width_bucket(x.at, $7::timestamptz[]) AS range,
                   sum(x.n)::bigint AS n, sum(x.int_sum)::bigint AS int_sum,
                   sum(x.micro_sum)::bigint AS micro_sum, min(x.min_watts) AS min_watts,
                   max(x.max_watts) AS max_watts, ",
            interval_ns!(),
            " AS interval_ns
            FROM ",
            series_with_intervals!(),
            "
            CROSS JOIN LATERAL (
                SELECT x.* FROM unnest($3::int4[], $4::int4[], $5::timestamptz[], $6::timestamptz[])
                     AS r(span_s, phase_s, lo, hi)
                CROSS JOIN LATERAL (",
            $rows,
            ") AS x
                UNION ALL
                SELECT d.start AS at, d.n, d.int_sum, d.micro_sum, d.min_watts, d.max_watts
                FROM (SELECT d.* ",
            late_quarters!("$5", "$6"),
            ") AS d
                JOIN late_runs r ON d.start >= r.lo AND d.start < r.hi
            ) AS x
            GROUP BY ",
            $group,
            " range, ",
            interval_ns!()
        )
    };
}

/// The rollup rows of run `r` and series `k`.
macro_rules! rollup_rows {
    () => {
        "SELECT p.start AS at, p.n, p.int_sum, p.micro_sum, p.min_watts, p.max_watts
         FROM power_rollups p
         WHERE r.span_s <> 0 AND p.duid = k.duid AND p.circuit_number = k.circuit_number
           AND p.span_s = r.span_s AND p.phase_s = r.phase_s
           AND p.start >= r.lo AND p.start < r.hi"
    };
}

/// The raw samples of run `r` (span 0) and series `k` as rows of one sample, split into
/// whole watts and microwatts so sums are exact, as the file source's are; and the rollup
/// rows of the other runs.
macro_rules! mixed_rows {
    () => {
        concat!(
            "SELECT s.ts AS at, 1::bigint AS n, ",
            crate::layout::sample_parts_sql!("s.watts"),
            ", s.watts AS min_watts, s.watts AS max_watts
             FROM power_samples s
             WHERE r.span_s = 0 AND s.duid = k.duid AND s.circuit_number = k.circuit_number
               AND s.ts >= r.lo AND s.ts < r.hi
             UNION ALL ",
            rollup_rows!()
        )
    };
}

/// The packs (`power_rollup_packs`) of run `r` (ordinal `r.idx`) and series `k` (`k.idx`)
/// whose start lies in `[r.first, r.hi)`, where `first` is the start of the pack holding the
/// run's first row. A pack may hold rows outside the run; the reader skips those. The late
/// quarters waiting in a run's `[r.lo, r.hi)` come aggregated by the range of `$8` they lie
/// in, each aggregate as a pack of one entry at its first quarter, which lies in the run and
/// the range, so the reader adds it to that range.
const PACKS: &str = concat!(
    "
    WITH late_runs AS MATERIALIZED (
        SELECT r.idx, r.lo, r.hi
        FROM unnest($7::timestamptz[], $6::timestamptz[]) WITH ORDINALITY AS r(lo, hi, idx))
    SELECT k.idx AS series, p.run, p.start_us, p.entries, ",
    interval_ns!(),
    " AS interval_ns
    FROM ",
    series_with_intervals!(),
    "
    CROSS JOIN LATERAL (
        SELECT r.idx AS run, (extract(epoch FROM p.start) * 1000000)::bigint AS start_us, p.entries
        FROM unnest($3::int4[], $4::int4[], $5::timestamptz[], $6::timestamptz[])
             WITH ORDINALITY AS r(span_s, phase_s, first, hi, idx)
        CROSS JOIN LATERAL (
            SELECT p.start, p.entries
            FROM power_rollup_packs p
            WHERE p.duid = k.duid AND p.circuit_number = k.circuit_number
              AND p.span_s = r.span_s AND p.phase_s = r.phase_s
              AND p.start >= r.first AND p.start < r.hi
        ) AS p
        UNION ALL
        SELECT r.idx, (extract(epoch FROM min(d.start)) * 1000000)::bigint,
               int4send(0) || int8send(sum(d.n)::bigint) || int8send(sum(d.int_sum)::bigint)
                   || int8send(sum(d.micro_sum)::bigint) || float8send(min(d.min_watts))
                   || float8send(max(d.max_watts))
        FROM (SELECT d.* ",
    late_quarters!("$7", "$6"),
    ") AS d
        JOIN late_runs r ON d.start >= r.lo AND d.start < r.hi
        GROUP BY r.idx, width_bucket(d.start, $8::timestamptz[])
    ) AS p"
);

/// Aggregates per series and range.
const STATS: &str = stats_query!("k.idx AS series,", "k.idx,", mixed_rows!());

/// Aggregates per range, over all the series together.
const COMBINED_STATS: &str = stats_query!("", "", mixed_rows!());

/// [`STATS`] when every run reads rollups: without the raw branch, whose partitions each
/// cost a step on every loop even when it reads nothing, the statement is about a third
/// faster.
const ROLLUP_STATS: &str = stats_query!("k.idx AS series,", "k.idx,", rollup_rows!());

/// [`COMBINED_STATS`] when every run reads rollups.
const ROLLUP_COMBINED_STATS: &str = stats_query!("", "", rollup_rows!());

/// Power samples read from PostgreSQL: from the primary, or from its streaming replicas
/// ([`ReplicaConfig`]).
#[derive(Clone)]
pub struct PgTimeSeries {
    sources: Arc<Sources>,
    use_rollups: bool,
}

impl fmt::Debug for PgTimeSeries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTimeSeries")
            .field("sources", &self.sources)
            .field("use_rollups", &self.use_rollups)
            .finish()
    }
}

impl PgTimeSeries {
    /// Connects to the primary alone, and checks that an import has run and that its rollups
    /// were written by this version's layout.
    pub async fn connect(config: &PgConfig) -> Result<PgTimeSeries, PgSetupError> {
        PgTimeSeries::connect_with_replicas(config, &ReplicaConfig::default()).await
    }

    /// Connects to the primary `config`, checks it as [`PgTimeSeries::connect`] does, and
    /// reads from the replicas of `replicas` while they keep up. The check is the primary's:
    /// a replica holds what the primary holds, as far as it has replayed.
    pub async fn connect_with_replicas(
        config: &PgConfig,
        replicas: &ReplicaConfig,
    ) -> Result<PgTimeSeries, PgSetupError> {
        let db = Database::new(config)?;
        let setup_error = |error| match error {
            DbError::Unavailable(reason) => PgSetupError::Unreachable(reason),
            // The statement reads power_sample_facts first: a login without SELECT on it is
            // told so, not that nothing was imported.
            DbError::Denied(reason) => PgSetupError::PermissionDenied {
                table: "power_sample_facts",
                reason,
            },
            DbError::Broken(_) => PgSetupError::NotImported,
        };
        let rows = db
            .query(RECORDED_ROLLUP_LAYOUT, &[])
            .await
            .map_err(setup_error)?;
        let row = rows.first().ok_or(PgSetupError::NotImported)?;
        let version: Option<i64> = row.try_get("version").ok().flatten();
        let has_samples: bool = row.try_get("has_samples").unwrap_or(false);
        match version {
            Some(version) if version == crate::layout::ROLLUP_LAYOUT_VERSION => Ok(PgTimeSeries {
                sources: Sources::new(db, replicas).await?,
                use_rollups: true,
            }),
            // Samples whose rollups an older layout wrote, or that an upgrade of the schema
            // dropped.
            _ if has_samples => Err(PgSetupError::RollupsMissing),
            Some(_) => Err(PgSetupError::RollupsMissing),
            None => Err(PgSetupError::NotImported),
        }
    }

    /// The same source answering from raw samples alone, never from rollups: slower, and the
    /// reference that rollup answers are checked against.
    pub fn without_rollups(mut self) -> PgTimeSeries {
        self.use_rollups = false;
        self
    }

    /// Where the source reads from, for logs, never with the password: the primary's
    /// description.
    pub fn describe(&self) -> &str {
        self.sources.primary().describe()
    }

    /// The primary's pool's connections right now, for operators.
    pub fn pool_status(&self) -> crate::PoolStatus {
        self.sources.primary().pool_status()
    }

    /// Where each replica stands, in the order configured; empty without replicas.
    pub fn replicas(&self) -> Vec<ReplicaStatus> {
        self.sources.statuses()
    }

    /// How far behind the primary, in commit time, the server a read goes to may be: `None`
    /// when every read goes to the primary, and with replicas the allowed lag plus the age a
    /// probe may reach.
    pub fn staleness_bound(&self) -> Option<std::time::Duration> {
        self.sources.staleness_bound()
    }
}

/// An instant rounded up to PostgreSQL's microsecond, in µs since the epoch.
fn ceil_micros(instant: OffsetDateTime) -> i64 {
    let nanos = instant.unix_timestamp_nanos();
    let micros = nanos.div_euclid(1000) + i128::from(nanos.rem_euclid(1000) != 0);
    // Years 0000 to 9999 are within ±2.6e17 µs.
    micros.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn instant(micros: i64) -> Result<OffsetDateTime, TimeSeriesError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).map_err(|error| {
        TimeSeriesError::Failed {
            reason: format!("an edge cannot be represented: {error}"),
        }
    })
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

/// The bytes of one row in a pack's `entries` (`db/timeseries.sql`): `at` (4), then `n`,
/// `int_sum`, `micro_sum`, `min_watts` and `max_watts` (8 each), big-endian.
const ENTRY_BYTES: usize = 44;

/// Passes each row of the pack `row` that lies in `run` to `add`, with its range: range i is
/// [`edges[i]`, `edges[i + 1]`), in µs.
fn unpack(
    row: &Row,
    run: &plan::Run,
    edges: &[i64],
    mut add: impl FnMut(usize, UsageStats),
) -> Result<(), TimeSeriesError> {
    let start: i64 = column(row, "start_us")?;
    let entries: &[u8] = column(row, "entries")?;
    let interval = interval(row)?;
    if !entries.len().is_multiple_of(ENTRY_BYTES) {
        return Err(TimeSeriesError::Failed {
            reason: format!(
                "a pack's entries are {} bytes, not a multiple of {ENTRY_BYTES}",
                entries.len()
            ),
        });
    }
    let span = run.level.span_us();
    // How many edges lie at or before the current row's start. The rows come in start order,
    // so it only grows: found by a binary search once a pack, then counted forward, where a
    // search for every row cost 14 days by hour 20,160 searches of 337 edges.
    let mut edges_passed = None;
    for entry in entries.chunks_exact(ENTRY_BYTES) {
        let (at, fields) = entry.split_at(4);
        let at = i32::from_be_bytes(at.try_into().unwrap_or_default());
        let mut words = fields
            .chunks_exact(8)
            .map(|word| u64::from_be_bytes(word.try_into().unwrap_or_default()));
        let mut word = || words.next().unwrap_or_default();
        let (n, whole, micro) = (word() as i64, word() as i64, word() as i64);
        let (min, max) = (f64::from_bits(word()), f64::from_bits(word()));
        let row_start = start + i64::from(at) * span;
        if row_start < run.from || row_start >= run.to {
            continue;
        }
        let passed =
            edges_passed.get_or_insert_with(|| edges.partition_point(|&edge| edge <= row_start));
        while edges.get(*passed).is_some_and(|&edge| edge <= row_start) {
            *passed += 1;
        }
        let Some(range) = passed.checked_sub(1) else {
            continue;
        };
        let total = TotalWatts::from_parts(i128::from(whole), i128::from(micro));
        add(
            range,
            UsageStats::from_parts(n as u64, total, min, max, interval),
        );
    }
    Ok(())
}

/// The instants of these microseconds since the epoch.
fn instants(micros: impl Iterator<Item = i64>) -> Result<Vec<OffsetDateTime>, TimeSeriesError> {
    micros.map(instant).collect()
}

/// Reads the column `interval_ns`: the row's series' nominal interval.
fn interval(row: &Row) -> Result<Duration, TimeSeriesError> {
    let nanos: Option<i64> = column(row, "interval_ns")?;
    Ok(nanos.map_or(FALLBACK_INTERVAL, Duration::nanoseconds))
}

/// Reads the columns `n`, `int_sum`, `micro_sum`, `min_watts`, `max_watts` and
/// `interval_ns`.
fn stats(row: &Row) -> Result<UsageStats, TimeSeriesError> {
    let count: i64 = column(row, "n")?;
    let whole: Option<i64> = column(row, "int_sum")?;
    let micro: Option<i64> = column(row, "micro_sum")?;
    let min: Option<f64> = column(row, "min_watts")?;
    let max: Option<f64> = column(row, "max_watts")?;
    let total = TotalWatts::from_parts(
        i128::from(whole.unwrap_or(0)),
        i128::from(micro.unwrap_or(0)),
    );
    Ok(UsageStats::from_parts(
        count as u64,
        total,
        min.unwrap_or(f64::NAN),
        max.unwrap_or(f64::NAN),
        interval(row)?,
    ))
}

impl TimeSeriesSource for PgTimeSeries {
    async fn extent(&self, series: &[SeriesKey]) -> Result<Option<Extent>, TimeSeriesError> {
        if series.is_empty() {
            return Ok(None);
        }
        let (duids, numbers) = keys(series);
        let params: [Param; 2] = [(&duids, Type::TEXT_ARRAY), (&numbers, Type::INT4_ARRAY)];
        let rows = self
            .sources
            .read(|db| {
                let params = &params;
                async move { Ok(db.query(EXTENT, params).await?) }
            })
            .await?;
        // An aggregate without GROUP BY answers exactly one row.
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let first: Option<i64> = column(row, "first_us")?;
        let last: Option<i64> = column(row, "last_us")?;
        match (first, last) {
            (Some(first), Some(last)) => Ok(Some(Extent {
                first: instant(first)?,
                last: instant(last)?,
                interval: interval(row)?,
            })),
            _ => Ok(None),
        }
    }

    async fn has_samples_from(
        &self,
        series: &[SeriesKey],
        from: OffsetDateTime,
    ) -> Result<bool, TimeSeriesError> {
        if series.is_empty() {
            return Ok(false);
        }
        let (duids, numbers) = keys(series);
        // Rounded up as every edge is: a sample is on a whole microsecond.
        let from = instant(ceil_micros(from))?;
        let params: [Param; 3] = [
            (&duids, Type::TEXT_ARRAY),
            (&numbers, Type::INT4_ARRAY),
            (&from, Type::TIMESTAMPTZ),
        ];
        let rows = self
            .sources
            .read(|db| {
                let params = &params;
                async move { Ok(db.query(HAS_SAMPLES_FROM, params).await?) }
            })
            .await?;
        match rows.first() {
            Some(row) => column(row, "found"),
            None => Ok(false),
        }
    }

    async fn window_stats(
        &self,
        series: &[SeriesKey],
        window: &Window,
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        let ranges = self
            .range_stats(series, &[window.start(), window.end()])
            .await?;
        Ok(ranges
            .rows()
            .map(|ranges| ranges.first().copied().unwrap_or(UsageStats::EMPTY))
            .collect())
    }

    async fn range_stats(
        &self,
        series: &[SeriesKey],
        edges: &[OffsetDateTime],
    ) -> Result<RangeStats, TimeSeriesError> {
        let n_ranges = edges.len().saturating_sub(1);
        let mut answer = RangeStats::empty(series.len(), n_ranges);
        if n_ranges == 0 || series.is_empty() {
            return Ok(answer);
        }
        self.read(
            [STATS, ROLLUP_STATS],
            series,
            edges,
            |index, range, stats| answer.merge_at(index, range, stats),
        )
        .await?;
        Ok(answer)
    }

    async fn combined_range_stats(
        &self,
        series: &[SeriesKey],
        edges: &[OffsetDateTime],
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        let mut answer = vec![UsageStats::EMPTY; edges.len().saturating_sub(1)];
        if answer.is_empty() || series.is_empty() {
            return Ok(answer);
        }
        let statements = [COMBINED_STATS, ROLLUP_COMBINED_STATS];
        self.read(statements, series, edges, |_, range, stats| {
            if let Some(slot) = answer.get_mut(range) {
                *slot = slot.merge(stats);
            }
        })
        .await?;
        Ok(answer)
    }
}

impl PgTimeSeries {
    /// Reads the statistics of the ranges between consecutive `edges`, passing each figure
    /// to `add` as (series index, range index, stats); a series and range may get several,
    /// to be merged. Long runs of hourly and daily rows come from packs ([`PACKS`]), unpacked
    /// here; the other runs from the first of `statements` when any reads raw samples, else the second,
    /// which aggregate in SQL (`series` is 0 when the statement has no series column).
    async fn read(
        &self,
        statements: [&'static str; 2],
        series: &[SeriesKey],
        edges: &[OffsetDateTime],
        mut add: impl FnMut(usize, usize, UsageStats),
    ) -> Result<(), TimeSeriesError> {
        let (duids, numbers) = keys(series);
        let micros: Vec<i64> = edges.iter().copied().map(ceil_micros).collect();
        let edges = instants(micros.iter().copied())?;
        // width_bucket and `unpack` both count the edges at or before an instant, so range i
        // is [edge i-1, edge i).
        // The two statements run at once, each on a connection of its own: a long window
        // reads packs for its middle and rows for its edges, and waiting for one before
        // sending the other would add a round trip and a statement's time.
        // The plan depends on the server's watermark, so it is made for the server that
        // answers.
        let (aggregated, packs, packed) = self
            .sources
            .read(|db| {
                let (duids, numbers, micros, edges) = (&duids, &numbers, &micros, &edges);
                async move {
                    let runs = if self.use_rollups {
                        plan::plan(micros, db.final_before().await?)
                    } else {
                        plan::plan_raw(micros)
                    };
                    let (packed, rows): (Vec<plan::Run>, Vec<plan::Run>) =
                        runs.into_iter().partition(plan::reads_packs);
                    let (aggregated, packs) = futures_util::future::try_join(
                        read_rows(&db, statements, duids, numbers, &rows, edges),
                        read_packs(&db, duids, numbers, &packed, edges),
                    )
                    .await?;
                    Ok((aggregated, packs, packed))
                }
            })
            .await?;
        if let Some(answer) = aggregated {
            let per_series = answer
                .first()
                .is_some_and(|row| row.columns().iter().any(|column| column.name() == "series"));
            for row in &answer {
                let index: i64 = if per_series {
                    column(row, "series")?
                } else {
                    1
                };
                let range: i32 = column(row, "range")?;
                if let Some((index, range)) = usize::try_from(index - 1)
                    .ok()
                    .zip(usize::try_from(range - 1).ok())
                {
                    add(index, range, stats(row)?);
                }
            }
        }
        for row in packs.iter().flatten() {
            let index: i64 = column(row, "series")?;
            let run: i64 = column(row, "run")?;
            let (Some(index), Some(run)) = (
                usize::try_from(index - 1).ok(),
                usize::try_from(run - 1)
                    .ok()
                    .and_then(|run| packed.get(run)),
            ) else {
                continue;
            };
            unpack(row, run, &micros, |range, stats| add(index, range, stats))?;
        }
        Ok(())
    }
}

/// The aggregates of the runs `rows` (none of them packed) between consecutive `edges`,
/// from the first of `statements` when a run reads raw samples, else the second; `None`
/// when there are no such runs.
async fn read_rows(
    db: &Database,
    statements: [&'static str; 2],
    duids: &[&str],
    numbers: &[i32],
    rows: &[plan::Run],
    edges: &[OffsetDateTime],
) -> Result<Option<Vec<Row>>, TimeSeriesError> {
    if rows.is_empty() {
        return Ok(None);
    }
    let sql = if rows.iter().any(|run| run.level == plan::Level::Raw) {
        statements[0]
    } else {
        statements[1]
    };
    let spans: Vec<i32> = rows.iter().map(|run| run.level.span_s()).collect();
    let phases: Vec<i32> = rows.iter().map(|run| run.phase_s).collect();
    let lows = instants(rows.iter().map(|run| run.from))?;
    let highs = instants(rows.iter().map(|run| run.to))?;
    let params: [Param; 7] = [
        (&duids, Type::TEXT_ARRAY),
        (&numbers, Type::INT4_ARRAY),
        (&spans, Type::INT4_ARRAY),
        (&phases, Type::INT4_ARRAY),
        (&lows, Type::TIMESTAMPTZ_ARRAY),
        (&highs, Type::TIMESTAMPTZ_ARRAY),
        (&edges, Type::TIMESTAMPTZ_ARRAY),
    ];
    Ok(Some(db.query(sql, &params).await?))
}

/// The packs of the runs `packed`, each from the start of the pack that holds its first
/// row, and the late quarters waiting in them by range of `edges`; `None` when there are no
/// such runs.
async fn read_packs(
    db: &Database,
    duids: &[&str],
    numbers: &[i32],
    packed: &[plan::Run],
    edges: &[OffsetDateTime],
) -> Result<Option<Vec<Row>>, TimeSeriesError> {
    if packed.is_empty() {
        return Ok(None);
    }
    let spans: Vec<i32> = packed.iter().map(|run| run.level.span_s()).collect();
    let phases: Vec<i32> = packed.iter().map(|run| run.phase_s).collect();
    let firsts = instants(
        packed
            .iter()
            .map(|run| plan::pack_start(run.level, run.from).unwrap_or(run.from)),
    )?;
    let highs = instants(packed.iter().map(|run| run.to))?;
    let lows = instants(packed.iter().map(|run| run.from))?;
    let params: [Param; 8] = [
        (&duids, Type::TEXT_ARRAY),
        (&numbers, Type::INT4_ARRAY),
        (&spans, Type::INT4_ARRAY),
        (&phases, Type::INT4_ARRAY),
        (&firsts, Type::TIMESTAMPTZ_ARRAY),
        (&highs, Type::TIMESTAMPTZ_ARRAY),
        (&lows, Type::TIMESTAMPTZ_ARRAY),
        (&edges, Type::TIMESTAMPTZ_ARRAY),
    ];
    Ok(Some(db.query(PACKS, &params).await?))
}
