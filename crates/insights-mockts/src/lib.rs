//! A [`TimeSeriesSource`] over a JSON file of power samples, answered from an in-memory index.
//!
//! The file is a JSON array of `{"duid", "circuit_number", "timestamp", "power_watts"}`
//! objects. Loading validates every row and stops at the first bad one with its index and
//! field; duplicate samples of a series are rejected.
#![warn(missing_docs)]

mod index;
mod load;
mod reload;

use std::collections::HashSet;
use std::io::Read;

use insights_core::{
    format_utc, Extent, RangeStats, SeriesKey, TimeSeriesError, TimeSeriesSource, UsageStats,
    Window,
};
use rustc_hash::FxHashMap;
use time::OffsetDateTime;

use crate::index::Series;
pub use crate::load::{LoadError, LoadErrorKind, MAX_OBJECT_BYTES};
pub use crate::reload::ReloadableTimeSeries;

/// Reads sample rows one at a time, from a JSON array or a stream of JSON objects (NDJSON),
/// and hands each to `on_row` as `(series, ns since the epoch, watts)` as soon as it is read,
/// so that a pipe can feed rows without end. Rows are checked as [`MockTimeSeries`] checks
/// them, and the first bad row stops the stream with its index; duplicates are not looked for,
/// as rows are not kept. An object longer than [`MAX_OBJECT_BYTES`] stops it too, naming the
/// line the object starts on, so memory stays bounded. Returns how many rows were read.
pub fn stream_rows(
    reader: impl Read,
    on_row: &mut dyn FnMut(SeriesKey, i64, f64),
) -> Result<usize, LoadError> {
    load::stream_rows(reader, on_row)
}

pub use insights_core::FALLBACK_INTERVAL;

/// Power samples held in memory, indexed per series.
#[derive(Debug)]
pub struct MockTimeSeries {
    // Every request looks series up here; Fx hashing is several times cheaper than SipHash,
    // and the keys come from our own catalogue, not from clients.
    series: FxHashMap<SeriesKey, Series>,
    n_samples: usize,
}

impl MockTimeSeries {
    /// Reads and indexes a sample file. The reader should be buffered.
    pub fn from_reader(reader: impl Read) -> Result<MockTimeSeries, LoadError> {
        let raw = load::read_rows(reader)?;
        let mut series = FxHashMap::with_capacity_and_hasher(raw.series.len(), Default::default());
        for (key, samples) in raw.series {
            let (timestamps, values) = sorted_without_duplicates(&key, samples)?;
            series.insert(key, Series::new(timestamps, values));
        }
        Ok(MockTimeSeries {
            series,
            n_samples: raw.n_rows,
        })
    }

    /// How many samples were loaded.
    pub fn n_samples(&self) -> usize {
        self.n_samples
    }

    /// How many distinct series were loaded.
    pub fn n_series(&self) -> usize {
        self.series.len()
    }

    /// The series that none of `referenced` names, with how many samples each holds.
    ///
    /// Such series stay loaded, but no answer uses them; the count belongs in the startup log.
    pub fn unreferenced<'a>(&'a self, referenced: &[SeriesKey]) -> Vec<(&'a SeriesKey, usize)> {
        let referenced: HashSet<&SeriesKey> = referenced.iter().collect();
        let mut unreferenced: Vec<_> = self
            .series
            .iter()
            .filter(|(key, _)| !referenced.contains(key))
            .map(|(key, series)| (key, series.len()))
            .collect();
        unreferenced.sort();
        unreferenced
    }

    /// Every sample as (series, ns since the epoch, watts), series by series in time order.
    pub fn samples(&self) -> impl Iterator<Item = (&SeriesKey, i64, f64)> + '_ {
        self.series
            .iter()
            .flat_map(|(key, series)| series.samples().map(move |(at, watts)| (key, at, watts)))
    }

    /// The heap memory the index holds, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.series.values().map(Series::heap_bytes).sum()
    }

    /// Statistics of one series over a window, answered from the index.
    pub fn series_stats(&self, key: &SeriesKey, window: &Window) -> UsageStats {
        self.series
            .get(key)
            .map(|series| series.window_stats(window.start_nanos(), window.end_nanos()))
            .unwrap_or(UsageStats::EMPTY)
    }

    /// Statistics of one series over each range between consecutive `edges` (ns since the
    /// epoch): one binary search per edge, then an index lookup per range.
    pub fn series_range_stats(&self, key: &SeriesKey, edges: &[i128]) -> Vec<UsageStats> {
        let mut ranges = vec![UsageStats::EMPTY; edges.len().saturating_sub(1)];
        self.write_series_range_stats(key, edges, &mut ranges);
        ranges
    }

    /// [`MockTimeSeries::series_range_stats`], written into `ranges` (one entry per range,
    /// [`UsageStats::EMPTY`] where the series is unknown).
    fn write_series_range_stats(&self, key: &SeriesKey, edges: &[i128], ranges: &mut [UsageStats]) {
        let Some(series) = self.series.get(key) else {
            ranges.fill(UsageStats::EMPTY);
            return;
        };
        let positions = series.positions(edges);
        for (slot, pair) in ranges.iter_mut().zip(positions.windows(2)) {
            *slot = series.range_stats(pair[0], pair[1]);
        }
    }
}

/// Sorts a series by time (files are usually sorted already) and rejects two samples at
/// the same instant, naming both rows.
fn sorted_without_duplicates(
    key: &SeriesKey,
    samples: load::RawSeries,
) -> Result<(Vec<i64>, Vec<f64>), LoadError> {
    let load::RawSeries {
        mut timestamps,
        mut values,
        mut rows,
    } = samples;
    if !timestamps.is_sorted() {
        let mut order: Vec<usize> = (0..timestamps.len()).collect();
        order.sort_unstable_by_key(|&index| (timestamps[index], rows[index]));
        timestamps = order.iter().map(|&index| timestamps[index]).collect();
        values = order.iter().map(|&index| values[index]).collect();
        rows = order.iter().map(|&index| rows[index]).collect();
    }
    if let Some(position) = timestamps.windows(2).position(|pair| pair[0] == pair[1]) {
        let timestamp = OffsetDateTime::from_unix_timestamp_nanos(i128::from(timestamps[position]))
            .map(format_utc)
            .unwrap_or_else(|_| timestamps[position].to_string());
        // A series' rows are read in file order, and sorting keeps equal instants in row
        // order, so the earlier row of the two comes first.
        let (first_row, row) = (rows[position], rows[position + 1]);
        return Err(LoadError {
            row: Some(row as usize),
            kind: LoadErrorKind::DuplicateSample {
                series: key.clone(),
                timestamp,
                first_row: first_row as usize,
            },
        });
    }
    Ok((timestamps, values))
}

impl MockTimeSeries {
    /// Loads and indexes the sample file at `path`.
    pub fn from_path(path: &std::path::Path) -> Result<MockTimeSeries, LoadError> {
        let file = std::fs::File::open(path).map_err(|error| LoadError {
            row: None,
            kind: LoadErrorKind::Io(format!("{}: {error}", path.display())),
        })?;
        MockTimeSeries::from_reader(std::io::BufReader::with_capacity(1 << 20, file))
    }
}

impl TimeSeriesSource for MockTimeSeries {
    async fn has_samples_from(
        &self,
        series: &[SeriesKey],
        from: OffsetDateTime,
    ) -> Result<bool, TimeSeriesError> {
        let from = from.unix_timestamp_nanos();
        Ok(series.iter().any(|key| {
            self.series
                .get(key)
                .and_then(|series| series.first_and_last())
                .is_some_and(|(_, last)| i128::from(last) >= from)
        }))
    }

    async fn extent(&self, series: &[SeriesKey]) -> Result<Option<Extent>, TimeSeriesError> {
        let Some((first, last, interval)) = series
            .iter()
            .filter_map(|key| {
                let series = self.series.get(key)?;
                let (first, last) = series.first_and_last()?;
                Some((first, last, series.interval()))
            })
            .reduce(
                |(first, last, interval), (other_first, other_last, other_interval)| {
                    (
                        first.min(other_first),
                        last.max(other_last),
                        interval.min(other_interval),
                    )
                },
            )
        else {
            return Ok(None);
        };
        // Every loaded timestamp came from an OffsetDateTime, so converting back cannot fail.
        let instant = |nanos: i64| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).map_err(|error| {
                TimeSeriesError::Failed {
                    reason: format!("a loaded timestamp is out of range: {error}"),
                }
            })
        };
        Ok(Some(Extent {
            first: instant(first)?,
            last: instant(last)?,
            interval,
        }))
    }

    async fn window_stats(
        &self,
        series: &[SeriesKey],
        window: &Window,
    ) -> Result<Vec<UsageStats>, TimeSeriesError> {
        Ok(series
            .iter()
            .map(|key| self.series_stats(key, window))
            .collect())
    }

    /// One binary search per edge and an index lookup per range, rather than a full window
    /// query per range.
    async fn range_stats(
        &self,
        series: &[SeriesKey],
        edges: &[OffsetDateTime],
    ) -> Result<RangeStats, TimeSeriesError> {
        if edges.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(TimeSeriesError::Failed {
                reason: "range edges must be strictly increasing".to_owned(),
            });
        }
        let nanos: Vec<i128> = edges
            .iter()
            .map(|edge| edge.unix_timestamp_nanos())
            .collect();
        let mut answer = RangeStats::empty(series.len(), nanos.len().saturating_sub(1));
        for (index, key) in series.iter().enumerate() {
            self.write_series_range_stats(key, &nanos, answer.series_mut(index));
        }
        Ok(answer)
    }

    // The figures are in memory, so merging them here costs what a store's merge would.
    insights_core::slow_range_stats!(combined_range_stats);
}
