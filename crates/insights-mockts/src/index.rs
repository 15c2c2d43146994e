//! The per-series index: window statistics in time independent of the window's length.
//!
//! Sums come from exact integer prefix sums of each sample's parts ([`sample_parts`]: whole
//! watts, and the fraction in microwatts), so any window's total is exact, as PostgreSQL's is.
//! Min and max come from per-block extremes with a sparse table over the blocks, plus the
//! partial blocks at the ends, read by their slices' extremes and their few samples outside
//! whole slices, so a query costs `O(log n + BLOCK / SLICE + SLICE)` whatever the window.

use insights_core::{nominal_interval, sample_parts, TotalWatts, UsageStats};
use time::Duration;

/// Samples per min/max block: large enough to keep the sparse table small, small enough
/// that reading the two edge blocks, by their slices, is cheap.
const BLOCK: usize = 64;

/// Samples per slice of a block, whose extremes are kept too (2 bytes a sample): a range
/// inside one or two blocks, as an hour of minutes is, then reads at most 7 slices and 7
/// samples at each end rather than up to 63 samples.
const SLICE: usize = 8;

/// One series, sorted by time, with its index.
#[derive(Debug)]
pub(crate) struct Series {
    timestamps: Vec<i64>,
    sums: PrefixSums,
    extremes: BlockExtremes,
    /// The series' nominal interval, from all its spacings; each sample stands for this long.
    interval: Duration,
}

#[derive(Debug)]
enum PrefixSums {
    /// `sums[i]` is the exact sum of the first `i` samples, all whole watts. The samples
    /// themselves are differences of neighbours, so they are not stored twice.
    Integer(Vec<i64>),
    /// Samples with fractions, and the prefix sums of their whole watts and of their
    /// fractions in microwatts. Both fit an `i64`: samples are at most 1 GW.
    Real {
        values: Vec<f64>,
        whole: Vec<i64>,
        fraction: Vec<i64>,
    },
}

impl Series {
    /// Indexes samples already sorted by strictly increasing timestamp (ns since the epoch).
    pub(crate) fn new(mut timestamps: Vec<i64>, values: Vec<f64>) -> Series {
        debug_assert_eq!(timestamps.len(), values.len());
        debug_assert!(timestamps.windows(2).all(|pair| pair[0] < pair[1]));
        timestamps.shrink_to_fit();
        let extremes = BlockExtremes::new(&values);
        let interval = nominal_interval(timestamps.windows(2).map(|pair| pair[1] - pair[0]));
        let sums = match integer_prefix_sums(&values) {
            Some(sums) => PrefixSums::Integer(sums),
            None => {
                let (whole, fraction) = part_prefix_sums(&values);
                let mut values = values;
                values.shrink_to_fit();
                PrefixSums::Real {
                    values,
                    whole,
                    fraction,
                }
            }
        };
        Series {
            timestamps,
            sums,
            extremes,
            interval,
        }
    }

    /// The series' nominal interval.
    pub(crate) fn interval(&self) -> Duration {
        self.interval
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
        let instant = clamp_to_i64(instant);
        self.timestamps
            .partition_point(|&timestamp| timestamp < instant)
    }

    /// [`Series::position`] of each of `edges`, which increase. Each search starts from the
    /// previous edge's position, at the guess that the samples between come at the nominal
    /// interval, and widens by doubling steps until it brackets the answer: a regular series
    /// answers each edge from a cache line or two. (A binary search over the whole series for
    /// each edge was half the time of a year by day, each probe a likely cache miss.)
    pub(crate) fn positions(&self, edges: &[i128]) -> Vec<usize> {
        // The guess is only where the search starts, so 64-bit division will do (a distance
        // past i64 saturates): 128-bit division took about 60 instructions an edge.
        let interval = u64::try_from(self.interval.whole_nanoseconds())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut from = 0;
        edges
            .iter()
            .map(|&edge| {
                let instant = clamp_to_i64(edge);
                let guess = self.timestamps.get(from).map_or(from, |&at| {
                    let ahead = instant.saturating_sub(at).max(0).unsigned_abs();
                    from.saturating_add(usize::try_from(ahead / interval).unwrap_or(usize::MAX))
                });
                from = self.position_near(instant, from, guess.min(self.timestamps.len()));
                from
            })
            .collect()
    }

    /// The index of the first sample at or after `instant`, known to be at least `from`,
    /// searched outwards from `guess`.
    fn position_near(&self, instant: i64, from: usize, guess: usize) -> usize {
        let timestamps = &self.timestamps;
        let before = |position: usize| timestamps[position] < instant;
        // Bracket the answer in (low, high]: every sample before `low` is earlier than
        // `instant`, and `high` is the length or a sample at or after it.
        let (mut low, mut high) = (guess, guess);
        let mut step = 1;
        if guess < timestamps.len() && before(guess) {
            low = guess + 1;
            high = guess.saturating_add(step).min(timestamps.len());
            while high < timestamps.len() && before(high) {
                low = high + 1;
                step *= 2;
                high = high.saturating_add(step).min(timestamps.len());
            }
        } else {
            while low > from && !before(low - 1) {
                high = low - 1;
                low = low.saturating_sub(step).max(from);
                step *= 2;
            }
        }
        low + timestamps[low..high].partition_point(|&at| at < instant)
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
            PrefixSums::Integer(sums) => {
                TotalWatts::from_parts(i128::from(sums[last] - sums[first]), 0)
            }
            PrefixSums::Real {
                whole, fraction, ..
            } => TotalWatts::from_parts(
                i128::from(whole[last] - whole[first]),
                i128::from(fraction[last] - fraction[first]),
            ),
        };
        let (min, max) = self.extremes.range(
            |position| self.value(position),
            first,
            last,
            self.timestamps.len(),
        );
        UsageStats::from_parts((last - first) as u64, total, min, max, self.interval)
    }

    /// The bytes the series holds on the heap, for memory reporting.
    pub(crate) fn heap_bytes(&self) -> usize {
        let sums = match &self.sums {
            PrefixSums::Integer(sums) => sums.capacity() * 8,
            PrefixSums::Real {
                values,
                whole,
                fraction,
            } => (values.capacity() + whole.capacity() + fraction.capacity()) * 8,
        };
        self.timestamps.capacity() * 8 + sums + self.extremes.heap_bytes()
    }
}

fn integer_prefix_sums(values: &[f64]) -> Option<Vec<i64>> {
    let mut sums = Vec::with_capacity(values.len() + 1);
    let mut running = 0i64;
    sums.push(running);
    for &value in values {
        match sample_parts(value) {
            (whole, 0) if value.fract() == 0.0 => running += whole,
            _ => return None,
        }
        sums.push(running);
    }
    Some(sums)
}

fn part_prefix_sums(values: &[f64]) -> (Vec<i64>, Vec<i64>) {
    let mut whole = Vec::with_capacity(values.len() + 1);
    let mut fraction = Vec::with_capacity(values.len() + 1);
    let (mut whole_running, mut fraction_running) = (0i64, 0i64);
    whole.push(0);
    fraction.push(0);
    for &value in values {
        let (whole_watts, microwatts) = sample_parts(value);
        whole_running += whole_watts;
        fraction_running += microwatts;
        whole.push(whole_running);
        fraction.push(fraction_running);
    }
    (whole, fraction)
}

/// Per-block minimum and maximum, a sparse table over the blocks, and the extremes of each
/// block's slices.
#[derive(Debug)]
struct BlockExtremes {
    /// `levels[k][b]` holds the (min, max) of blocks `b .. b + 2^k`.
    levels: Vec<Vec<(f64, f64)>>,
    /// `slices[i]` holds the (min, max) of samples `i * SLICE .. (i + 1) * SLICE`.
    slices: Vec<(f64, f64)>,
}

impl BlockExtremes {
    fn new(values: &[f64]) -> BlockExtremes {
        let mut slices: Vec<(f64, f64)> = values
            .chunks(SLICE)
            .map(|slice| scan(slice.iter().copied()))
            .collect();
        slices.shrink_to_fit();
        let base: Vec<(f64, f64)> = slices
            .chunks(BLOCK / SLICE)
            .map(|block| block.iter().copied().fold(EMPTY, combine))
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
        BlockExtremes { levels, slices }
    }

    /// The extremes of samples `first..last`, which lie within one or two blocks: the whole
    /// slices inside from their extremes, and only the samples outside them one by one.
    fn partial(&self, value: impl Fn(usize) -> f64, first: usize, last: usize) -> (f64, f64) {
        let whole_first = first.div_ceil(SLICE);
        let whole_last = last / SLICE;
        if whole_first >= whole_last {
            return scan((first..last).map(value));
        }
        let head = scan((first..whole_first * SLICE).map(&value));
        let tail = scan((whole_last * SLICE..last).map(&value));
        let slices = self.slices[whole_first..whole_last]
            .iter()
            .copied()
            .fold(EMPTY, combine);
        combine(combine(head, tail), slices)
    }

    /// The extremes of samples `first..last` of a series of `len` samples: the whole blocks
    /// inside the range from the sparse table, and the partial blocks at its ends by
    /// [`BlockExtremes::partial`]. A range that starts on a block's edge, or ends on one or at the
    /// series' last sample, reads nothing there: the shipped day of minute samples, asked for
    /// whole, read 96 samples at its ends before and reads none now.
    fn range(
        &self,
        value: impl Fn(usize) -> f64,
        first: usize,
        last: usize,
        len: usize,
    ) -> (f64, f64) {
        // The whole blocks inside: from the first block starting at or after `first` to the
        // last one ending at or before `last` (the series' last block ends at `len`).
        let whole_first = first.div_ceil(BLOCK);
        let whole_last = if last == len {
            self.levels[0].len()
        } else {
            last / BLOCK
        };
        if whole_first >= whole_last {
            // No whole block inside, so fewer than two blocks' samples.
            return self.partial(&value, first, last);
        }
        let head = self.partial(&value, first, whole_first * BLOCK);
        let tail = self.partial(&value, (whole_last * BLOCK).min(last), last);
        let level = (usize::BITS - 1 - (whole_last - whole_first).leading_zeros()) as usize;
        let table = &self.levels[level];
        let blocks = combine(table[whole_first], table[whole_last - (1 << level)]);
        combine(combine(head, tail), blocks)
    }

    fn heap_bytes(&self) -> usize {
        self.levels
            .iter()
            .map(|level| level.capacity() * 16)
            .sum::<usize>()
            + self.levels.capacity() * 24
            + self.slices.capacity() * 16
    }
}

/// An instant in ns as a sample's timestamp type. Samples at `i64::MAX` are impossible (they
/// would be in year 2262), so clamping is exact.
fn clamp_to_i64(instant: i128) -> i64 {
    instant.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The extremes of nothing, which [`combine`] leaves out.
const EMPTY: (f64, f64) = (f64::INFINITY, f64::NEG_INFINITY);

fn scan(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold(EMPTY, |(min, max), value| (min.min(value), max.max(value)))
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
        // Exact whatever the magnitudes: a tenth survives beside a gigawatt and its opposite.
        let series = Series::new(vec![0, 1, 2], vec![1e9, 0.1, -1e9]);
        assert_eq!(series.range_stats(0, 3).total().as_f64(), 0.1);
        assert_eq!(series.range_stats(1, 3).total().as_f64(), 0.1 - 1e9);
    }

    fn check_interval(timestamps: &[i64], expected_nanos: i64) {
        let series = Series::new(timestamps.to_vec(), vec![1.0; timestamps.len()]);
        assert_eq!(
            series.interval(),
            Duration::nanoseconds(expected_nanos),
            "{timestamps:?}"
        );
    }

    #[test]
    fn a_series_interval_is_its_most_common_spacing() {
        check_interval(&[], 60_000_000_000);
        check_interval(&[5], 60_000_000_000);
        check_interval(&[0, 10], 10);
        check_interval(&[0, 10, 20, 25], 10);
        // A tie goes to the shorter spacing.
        check_interval(&[0, 10, 15], 5);
        check_interval(&[0, 60, 120, 130, 140, 150], 10);
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

    /// Positions of increasing edges, each found from the previous one, are those a binary
    /// search over the whole series finds.
    fn check_positions(timestamps: &[i64], edges: &[i128]) {
        let series = Series::new(timestamps.to_vec(), vec![1.0; timestamps.len()]);
        let expected: Vec<usize> = edges.iter().map(|&edge| series.position(edge)).collect();
        assert_eq!(
            series.positions(edges),
            expected,
            "{timestamps:?} at {edges:?}"
        );
    }

    #[test]
    fn finds_increasing_edges_from_the_previous_one() {
        check_positions(&[], &[i128::MIN, 0, i128::MAX]);
        check_positions(&[10], &[0, 10, 11]);
        // Regular, then a gap, then faster: the guesses fall short, long and right.
        let mut timestamps: Vec<i64> = (0..100).map(|i| i * 60).collect();
        timestamps.extend((0..100).map(|i| 100_000 + i * 7));
        check_positions(
            &timestamps,
            &[-5, 0, 59, 60, 61, 5_999, 6_000, 99_999, 100_000],
        );
        check_positions(&timestamps, &[100_006, 100_007, 100_693, 100_700, 200_000]);
        check_positions(&timestamps, &[i128::MIN, i128::MAX]);
    }

    proptest::proptest! {
        #[test]
        fn positions_of_increasing_edges_are_binary_searches(
            spacings in proptest::collection::vec(1i64..5_000, 0..300),
            start in -10_000i64..10_000,
            steps in proptest::collection::vec(1i64..20_000, 1..40),
            edge_start in -20_000i64..20_000,
        ) {
            let timestamps: Vec<i64> = spacings
                .iter()
                .scan(start, |at, spacing| {
                    *at += spacing;
                    Some(*at)
                })
                .collect();
            let edges: Vec<i128> = steps
                .iter()
                .scan(i128::from(edge_start), |at, step| {
                    *at += i128::from(*step);
                    Some(*at)
                })
                .collect();
            check_positions(&timestamps, &edges);
        }
    }

    proptest::proptest! {
        /// Any range's count and extremes are those of its samples read one by one, within a
        /// block, across blocks and to the series' end, with whole watts and with fractions;
        /// with whole watts, so is its total (`keeps_fractional_sums_accurate` has fractions').
        #[test]
        fn range_stats_are_those_of_the_samples(
            whole in proptest::collection::vec(-1_000_000i64..1_000_000, 1..400),
            tenths in proptest::bool::ANY,
            ends in (0usize..400, 0usize..400),
        ) {
            let values: Vec<f64> = whole
                .iter()
                .map(|&watts| if tenths { watts as f64 / 10.0 } else { watts as f64 })
                .collect();
            let (first, last) = (ends.0.min(values.len()), ends.1.min(values.len()));
            let (first, last) = (first.min(last), first.max(last));
            let series = Series::new((0..values.len() as i64).collect(), values.clone());
            let stats = series.range_stats(first, last);
            let samples = &values[first..last];
            let min = samples.iter().copied().reduce(f64::min);
            let max = samples.iter().copied().reduce(f64::max);
            proptest::prop_assert_eq!(stats.n_samples(), samples.len() as u64);
            proptest::prop_assert_eq!((stats.min(), stats.max()), (min, max));
            if !tenths {
                let total: i64 = whole[first..last].iter().sum();
                proptest::prop_assert_eq!(stats.total().as_integer(), Some(i128::from(total)));
            }
        }
    }

    #[test]
    fn counts_the_heap_it_holds() {
        // 100 integer samples: timestamps, 101 prefix sums, (min, max) of 2 blocks plus 1
        // pair of blocks, in a table of 2 levels, and of 13 slices.
        let integers = Series::new((0..100).collect(), vec![1.0; 100]);
        assert_eq!(
            integers.heap_bytes(),
            100 * 8 + 101 * 8 + 3 * 16 + 2 * 24 + 13 * 16
        );
        // With a fraction, the values are kept beside prefix sums of whole watts and of
        // microwatts.
        let reals = Series::new((0..100).collect(), vec![0.5; 100]);
        assert_eq!(
            reals.heap_bytes(),
            100 * 8 + 100 * 8 + 2 * 101 * 8 + 3 * 16 + 2 * 24 + 13 * 16
        );
        assert_eq!(Series::new(Vec::new(), Vec::new()).heap_bytes(), 8 + 24);
    }
}
