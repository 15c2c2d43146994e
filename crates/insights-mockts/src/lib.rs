//! A [`TimeSeriesSource`] over a JSON file of power samples, answered from an in-memory index.
//!
//! The file is a JSON array of `{"duid", "circuit_number", "timestamp", "power_watts"}`
//! objects. Loading validates every row and stops at the first bad one with its index and
//! field; duplicate samples of a series are rejected.
#![warn(missing_docs)]

mod index;
mod load;

use std::collections::{HashMap, HashSet};
use std::io::Read;

use insights_core::{format_utc, SeriesKey, TimeSeriesError, TimeSeriesSource, UsageStats, Window};
use time::{Duration, OffsetDateTime};

use crate::index::Series;
pub use crate::load::{LoadError, LoadErrorKind};

/// The interval assumed when no series has two samples to measure a spacing from.
pub const FALLBACK_INTERVAL: Duration = Duration::minutes(1);

/// Power samples held in memory, indexed per series.
#[derive(Debug)]
pub struct MockTimeSeries {
    series: HashMap<SeriesKey, Series>,
    nominal_interval: Duration,
    n_samples: usize,
}

impl MockTimeSeries {
    /// Reads and indexes a sample file. The reader should be buffered.
    pub fn from_reader(reader: impl Read) -> Result<MockTimeSeries, LoadError> {
        let raw = load::read_rows(reader)?;
        let mut spacings: HashMap<i64, u64> = HashMap::new();
        let mut series = HashMap::with_capacity(raw.series.len());
        for (key, mut samples) in raw.series {
            samples.sort_unstable_by_key(|sample| (sample.timestamp, sample.row));
            if let Some(pair) = samples
                .windows(2)
                .find(|pair| pair[0].timestamp == pair[1].timestamp)
            {
                let timestamp =
                    OffsetDateTime::from_unix_timestamp_nanos(i128::from(pair[1].timestamp))
                        .map(format_utc)
                        .unwrap_or_else(|_| pair[1].timestamp.to_string());
                return Err(LoadError {
                    row: Some(pair[1].row as usize),
                    kind: LoadErrorKind::DuplicateSample {
                        series: key,
                        timestamp,
                        first_row: pair[0].row as usize,
                    },
                });
            }
            for pair in samples.windows(2) {
                *spacings
                    .entry(pair[1].timestamp - pair[0].timestamp)
                    .or_default() += 1;
            }
            let timestamps = samples.iter().map(|sample| sample.timestamp).collect();
            let values = samples.iter().map(|sample| sample.watts).collect();
            series.insert(key, Series::new(timestamps, values));
        }
        // The most common spacing wins; a tie goes to the shorter spacing, so it is deterministic.
        let nominal_interval = spacings
            .into_iter()
            .max_by_key(|&(spacing, count)| (count, std::cmp::Reverse(spacing)))
            .map(|(spacing, _)| Duration::nanoseconds(spacing))
            .unwrap_or(FALLBACK_INTERVAL);
        Ok(MockTimeSeries {
            series,
            nominal_interval,
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
        let n_ranges = edges.len().saturating_sub(1);
        let Some(series) = self.series.get(key) else {
            return vec![UsageStats::EMPTY; n_ranges];
        };
        let positions: Vec<usize> = edges.iter().map(|edge| series.position(*edge)).collect();
        positions
            .windows(2)
            .map(|pair| series.range_stats(pair[0], pair[1]))
            .collect()
    }

    /// Statistics of one series over a window by scanning every sample; the reference that
    /// tests hold the index to.
    pub fn series_stats_by_scan(&self, key: &SeriesKey, window: &Window) -> UsageStats {
        let Some(series) = self.series.get(key) else {
            return UsageStats::EMPTY;
        };
        let (start, end) = (window.start_nanos(), window.end_nanos());
        // Deliberately independent of the index: filter every sample and fold them one by one.
        series
            .timestamps()
            .iter()
            .zip(series.values())
            .filter(|(&timestamp, _)| start <= i128::from(timestamp) && i128::from(timestamp) < end)
            .map(|(_, &watts)| watts)
            .collect()
    }
}

impl TimeSeriesSource for MockTimeSeries {
    fn nominal_interval(&self) -> Duration {
        self.nominal_interval
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
}
