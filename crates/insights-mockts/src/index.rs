//! The per-series index: window statistics in time independent of the window's length.
//!
//! Sums come from prefix sums (exact `i64` for integer series, double-double otherwise).
//! Min and max come from per-block extremes with a sparse table over the blocks, plus a scan
//! of at most two partial blocks, so a query costs `O(log n + BLOCK)` whatever the window.

use insights_core::{is_exact_integer, TotalWatts, UsageStats};

/// Samples per min/max block: large enough to keep the sparse table small, small enough
/// that scanning the two edge blocks is cheap.
const BLOCK: usize = 64;

/// One series, sorted by time, with its index.
#[derive(Debug)]
pub(crate) struct Series {
    timestamps: Vec<i64>,
    sums: PrefixSums,
    extremes: BlockExtremes,
}

#[derive(Debug)]
enum PrefixSums {
    /// `sums[i]` is the exact sum of the first `i` samples, all integers. The samples
    /// themselves are differences of neighbours, so they are not stored twice.
    Integer(Vec<i64>),
    /// Samples with fractions (or too large for `i64` sums), and double-double prefix sums.
    Real {
        values: Vec<f64>,
        sums: Vec<(f64, f64)>,
    },
}

impl Series {
    /// Indexes samples already sorted by strictly increasing timestamp (ns since the epoch).
    pub(crate) fn new(mut timestamps: Vec<i64>, values: Vec<f64>) -> Series {
        debug_assert_eq!(timestamps.len(), values.len());
        debug_assert!(timestamps.windows(2).all(|pair| pair[0] < pair[1]));
        timestamps.shrink_to_fit();
        let extremes = BlockExtremes::new(&values);
        let sums = match integer_prefix_sums(&values) {
            Some(sums) => PrefixSums::Integer(sums),
            None => {
                let sums = real_prefix_sums(&values);
                let mut values = values;
                values.shrink_to_fit();
                PrefixSums::Real { values, sums }
            }
        };
        Series {
            timestamps,
            sums,
            extremes,
        }
    }

    /// The first and the last sample's time (ns since the epoch); `None` without samples.
    pub(crate) fn first_and_last(&self) -> Option<(i64, i64)> {
        Some((*self.timestamps.first()?, *self.timestamps.last()?))
    }

    /// How many samples the series has.
    pub(crate) fn len(&self) -> usize {
        self.timestamps.len()
    }

    /// The samples in time order, as (ns since the epoch, watts).
    pub(crate) fn samples(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.timestamps
            .iter()
            .enumerate()
            .map(|(position, at)| (*at, self.value(position)))
    }

    /// The sample at a position, in watts.
    pub(crate) fn value(&self, position: usize) -> f64 {
        match &self.sums {
            PrefixSums::Integer(sums) => (sums[position + 1] - sums[position]) as f64,
            PrefixSums::Real { values, .. } => values[position],
        }
    }

    /// The index of the first sample at or after `instant` (ns since the epoch).
    pub(crate) fn position(&self, instant: i128) -> usize {
        let instant = instant.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        // Samples at i64::MAX are impossible (they would be year 2262), so clamping is exact.
        self.timestamps
            .partition_point(|&timestamp| timestamp < instant)
    }

    /// Statistics over the samples with `start <= t < end`.
    pub(crate) fn window_stats(&self, start: i128, end: i128) -> UsageStats {
        let first = self.position(start);
        let last = self.position(end);
        self.range_stats(first, last)
    }

    /// Statistics over samples `first..last` by position.
    pub(crate) fn range_stats(&self, first: usize, last: usize) -> UsageStats {
        if first >= last {
            return UsageStats::EMPTY;
        }
        let total = match &self.sums {
            PrefixSums::Integer(sums) => TotalWatts {
                integer: i128::from(sums[last] - sums[first]),
                real: 0.0,
            },
            PrefixSums::Real { sums, .. } => TotalWatts {
                integer: 0,
                real: double_double_difference(sums[last], sums[first]),
            },
        };
        let (min, max) = self
            .extremes
            .range(|position| self.value(position), first, last);
        UsageStats::from_parts((last - first) as u64, total, min, max)
    }

    /// The bytes the series holds on the heap, for memory reporting.
    pub(crate) fn heap_bytes(&self) -> usize {
        let sums = match &self.sums {
            PrefixSums::Integer(sums) => sums.capacity() * 8,
            PrefixSums::Real { values, sums } => values.capacity() * 8 + sums.capacity() * 16,
        };
        self.timestamps.capacity() * 8 + sums + self.extremes.heap_bytes()
    }
}

fn integer_prefix_sums(values: &[f64]) -> Option<Vec<i64>> {
    let mut sums = Vec::with_capacity(values.len() + 1);
    let mut running = 0i64;
    sums.push(running);
    for &value in values {
        if !is_exact_integer(value) {
            return None;
        }
        running = running.checked_add(value as i64)?;
        sums.push(running);
    }
    Some(sums)
}

fn real_prefix_sums(values: &[f64]) -> Vec<(f64, f64)> {
    let mut sums = Vec::with_capacity(values.len() + 1);
    let mut running = (0.0, 0.0);
    sums.push(running);
    for &value in values {
        let (high, error) = two_sum(running.0, value);
        running = (high, running.1 + error);
        sums.push(running);
    }
    sums
}

/// Knuth's error-free addition: `high + low == a + b` exactly.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let high = a + b;
    let b_virtual = high - a;
    let a_virtual = high - b_virtual;
    let low = (a - a_virtual) + (b - b_virtual);
    (high, low)
}

fn double_double_difference(later: (f64, f64), earlier: (f64, f64)) -> f64 {
    let (high, error) = two_sum(later.0, -earlier.0);
    high + (error + (later.1 - earlier.1))
}

/// Per-block minimum and maximum, and a sparse table over the blocks.
#[derive(Debug)]
struct BlockExtremes {
    /// `levels[k][b]` holds the (min, max) of blocks `b .. b + 2^k`.
    levels: Vec<Vec<(f64, f64)>>,
}

impl BlockExtremes {
    fn new(values: &[f64]) -> BlockExtremes {
        let base: Vec<(f64, f64)> = values
            .chunks(BLOCK)
            .map(|block| scan(block.iter().copied()))
            .collect();
        let mut levels = vec![base];
        let mut span = 1;
        while span * 2 <= levels[0].len() {
            let previous = levels.last().expect("at least the base level");
            let next = (0..previous.len() - span)
                .map(|block| combine(previous[block], previous[block + span]))
                .collect();
            levels.push(next);
            span *= 2;
        }
        levels.shrink_to_fit();
        BlockExtremes { levels }
    }

    fn range(&self, value: impl Fn(usize) -> f64, first: usize, last: usize) -> (f64, f64) {
        let first_block = first / BLOCK;
        // The block of the range's last sample, `(last - 1) / BLOCK`.
        let last_block = last.div_ceil(BLOCK) - 1;
        if first_block == last_block {
            return scan((first..last).map(&value));
        }
        let head = scan((first..(first_block + 1) * BLOCK).map(&value));
        let tail = scan((last_block * BLOCK..last).map(&value));
        let mut extremes = combine(head, tail);
        let (inner_first, inner_last) = (first_block + 1, last_block);
        if inner_first < inner_last {
            let level = (usize::BITS - 1 - (inner_last - inner_first).leading_zeros()) as usize;
            let table = &self.levels[level];
            extremes = combine(extremes, table[inner_first]);
            extremes = combine(extremes, table[inner_last - (1 << level)]);
        }
        extremes
    }

    fn heap_bytes(&self) -> usize {
        self.levels
            .iter()
            .map(|level| level.capacity() * 16)
            .sum::<usize>()
            + self.levels.capacity() * 24
    }
}

fn scan(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(min, max), value| {
        (min.min(value), max.max(value))
    })
}

fn combine(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    (a.0.min(b.0), a.1.max(b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        values: &[f64],
        range: (usize, usize),
        expected: (u64, Option<i128>, Option<f64>, Option<f64>),
    ) {
        let timestamps = (0..values.len() as i64).collect();
        let series = Series::new(timestamps, values.to_vec());
        let stats = series.range_stats(range.0, range.1);
        let actual = (
            stats.n_samples(),
            stats.total().as_integer(),
            stats.min(),
            stats.max(),
        );
        assert_eq!(actual, expected, "values {values:?}, range {range:?}");
    }

    #[test]
    fn answers_ranges_within_and_across_blocks() {
        let ramp: Vec<f64> = (0..300).map(f64::from).collect();
        check(&ramp, (0, 0), (0, Some(0), None, None));
        check(&ramp, (5, 6), (1, Some(5), Some(5.0), Some(5.0)));
        check(&ramp, (0, 64), (64, Some(2016), Some(0.0), Some(63.0)));
        check(&ramp, (63, 65), (2, Some(127), Some(63.0), Some(64.0)));
        check(
            &ramp,
            (10, 290),
            (280, Some((10..290).sum()), Some(10.0), Some(289.0)),
        );
        check(&ramp, (0, 300), (300, Some(44850), Some(0.0), Some(299.0)));
        let valley: Vec<f64> = (0..300).map(|i| f64::from((i - 150) * (i - 150))).collect();
        check(
            &valley,
            (1, 299),
            (
                298,
                Some((1..299).map(|i: i128| (i - 150) * (i - 150)).sum()),
                Some(0.0),
                Some(22201.0),
            ),
        );
    }

    #[test]
    fn keeps_fractional_sums_accurate() {
        let tenths = vec![0.1; 1000];
        let series = Series::new((0..1000).collect(), tenths);
        let stats = series.range_stats(100, 900);
        assert_eq!(stats.total().as_f64(), 80.0);
        // Values too large for an i64 prefix fall back to the real path.
        let huge = vec![9.0e15; 2000];
        let series = Series::new((0..2000).collect(), huge);
        assert_eq!(series.range_stats(0, 2000).total().as_f64(), 1.8e19);
    }

    #[test]
    fn finds_window_positions_half_open() {
        let series = Series::new(vec![10, 20, 30], vec![1.0, 2.0, 3.0]);
        assert_eq!(series.window_stats(10, 30).n_samples(), 2);
        assert_eq!(series.window_stats(11, 31).n_samples(), 2);
        assert_eq!(series.window_stats(i128::MIN, i128::MAX).n_samples(), 3);
        assert_eq!(series.window_stats(31, 40).n_samples(), 0);
        assert_eq!(series.window_stats(0, 10), UsageStats::EMPTY);
    }

    #[test]
    fn counts_the_heap_it_holds() {
        // 100 integer samples: timestamps, 101 prefix sums, and (min, max) of 2 blocks plus
        // 1 pair of blocks, in a table of 2 levels.
        let integers = Series::new((0..100).collect(), vec![1.0; 100]);
        assert_eq!(integers.heap_bytes(), 100 * 8 + 101 * 8 + 3 * 16 + 2 * 24);
        // With a fraction, the values are kept beside double-double prefix sums.
        let reals = Series::new((0..100).collect(), vec![0.5; 100]);
        assert_eq!(
            reals.heap_bytes(),
            100 * 8 + 100 * 8 + 101 * 16 + 3 * 16 + 2 * 24
        );
        assert_eq!(Series::new(Vec::new(), Vec::new()).heap_bytes(), 8 + 24);
    }
}
