//! Mergeable usage statistics (count, exact sum, min, max, and the time the samples stand for)
//! and the derived figures a usage answer reports.

use time::Duration;

/// The nominal interval of a series with fewer than two samples, which has no spacing to
/// measure. Every source uses this one, so that they answer alike on the same data.
pub const FALLBACK_INTERVAL: Duration = Duration::minutes(1);

/// A series' nominal interval from the spacings between its neighbouring samples (ns), as
/// every source determines it: the most common spacing, the shorter on a tie, and
/// [`FALLBACK_INTERVAL`] without any. Each sample of the series stands for this long.
pub fn nominal_interval(spacings: impl IntoIterator<Item = i64>) -> Duration {
    // Counted a run at a time: most series are regular, so this is one entry per series.
    let mut counts: std::collections::HashMap<i64, u64> = std::collections::HashMap::new();
    let mut run: Option<(i64, u64)> = None;
    for spacing in spacings {
        run = match run {
            Some((current, count)) if current == spacing => Some((current, count + 1)),
            Some((current, count)) => {
                *counts.entry(current).or_default() += count;
                Some((spacing, 1))
            }
            None => Some((spacing, 1)),
        };
    }
    if let Some((spacing, count)) = run {
        *counts.entry(spacing).or_default() += count;
    }
    counts
        .into_iter()
        .max_by_key(|&(spacing, count)| (count, std::cmp::Reverse(spacing)))
        .map_or(FALLBACK_INTERVAL, |(spacing, _)| {
            Duration::nanoseconds(spacing)
        })
}

/// The largest magnitude a power sample may have, in watts: 1 GW, far above what any circuit
/// draws (a large factory's whole supply is tens of MW). Sources refuse samples beyond it, so
/// a sample's whole watts fit a signed 64-bit integer, and so do the sums a database adds up
/// of them (a 64-day rollup row at 100 samples a second: 5.5e8 x 1e9 W < 9.2e18).
pub const MAX_ABS_WATTS: f64 = 1e9;

/// Microwatts in a watt: sums are exact to the microwatt.
const MICROWATTS_PER_WATT: i128 = 1_000_000;

/// µW·ns in a joule (a watt-second): the unit of exact energy.
const FEMTOJOULES_PER_JOULE: i128 = 1_000_000_000_000_000;

/// Nanoseconds in a second.
const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// The largest integer every smaller magnitude of which an `f64` holds exactly.
const EXACT_IN_F64: u128 = 1 << 53;

/// The parts a sample is summed by, the same in every source: its whole watts (truncated
/// toward zero), and its fraction in microwatts rounded to the nearest, ties to even.
///
/// In SQL the same parts are `trunc(w)::bigint` and `round((w - trunc(w)) * 1e6::float8)`:
/// `w - trunc(w)` is exact, the product is one IEEE multiplication either way, and
/// PostgreSQL's `round` of a double rounds ties to even, as `round_ties_even` does. So a sum
/// of parts is exact integer arithmetic, independent of order, and identical across sources.
pub fn sample_parts(watts: f64) -> (i64, i64) {
    let whole = watts.trunc();
    (
        (whole as i64),
        ((watts - whole) * 1e6).round_ties_even() as i64,
    )
}

/// The sum of a set of power samples, exact to the microwatt (see [`sample_parts`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TotalWatts {
    microwatts: i128,
}

impl TotalWatts {
    /// No watts.
    pub const ZERO: TotalWatts = TotalWatts { microwatts: 0 };

    /// One sample's contribution to a sum.
    pub fn of_sample(watts: f64) -> TotalWatts {
        let (whole, fraction) = sample_parts(watts);
        TotalWatts::from_parts(i128::from(whole), i128::from(fraction))
    }

    /// A sum from the sums of its parts: whole watts and fractions in microwatts.
    pub fn from_parts(whole_watts: i128, fraction_microwatts: i128) -> TotalWatts {
        TotalWatts {
            microwatts: whole_watts
                .saturating_mul(MICROWATTS_PER_WATT)
                .saturating_add(fraction_microwatts),
        }
    }

    /// The exact sum in microwatts.
    pub fn microwatts(&self) -> i128 {
        self.microwatts
    }

    /// The total as a whole number of watts, when it is one.
    pub fn as_integer(&self) -> Option<i128> {
        (self.microwatts % MICROWATTS_PER_WATT == 0)
            .then_some(self.microwatts / MICROWATTS_PER_WATT)
    }

    /// The total in watts as the `f64` nearest to it (when it is under 2^53 µW or whole;
    /// beyond, within an ulp). The same total always gives the same `f64`.
    pub fn as_f64(&self) -> f64 {
        quotient_to_f64(self.microwatts, MICROWATTS_PER_WATT)
    }
}

/// `numerator / denominator` (positive) as an `f64`: correctly rounded while both are under
/// 2^53, exact whenever the quotient is a whole number an `f64` holds, and otherwise the
/// whole part plus the rounded remainder. The same operands always give the same `f64`.
fn quotient_to_f64(numerator: i128, denominator: i128) -> f64 {
    if numerator.unsigned_abs() <= EXACT_IN_F64 && denominator.unsigned_abs() <= EXACT_IN_F64 {
        // Both operands are exact, so the one division rounds correctly.
        return numerator as f64 / denominator as f64;
    }
    let (whole, remainder) = (numerator / denominator, numerator % denominator);
    if remainder == 0 {
        whole as f64
    } else {
        whole as f64 + remainder as f64 / denominator as f64
    }
}

impl std::ops::Add for TotalWatts {
    type Output = TotalWatts;

    fn add(self, other: TotalWatts) -> TotalWatts {
        TotalWatts {
            microwatts: self.microwatts.saturating_add(other.microwatts),
        }
    }
}

impl std::ops::AddAssign for TotalWatts {
    fn add_assign(&mut self, other: TotalWatts) {
        *self = *self + other;
    }
}

/// How long the samples of a sum stand for. Each series has its own nominal interval, and
/// each of its samples stands for that long; a sum over series of different intervals keeps
/// its energy and covered time exactly, as integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Spacing {
    /// No samples.
    Empty,
    /// Every sample stands for this many nanoseconds. Its figures are derived as they always
    /// were for one interval, so answers over series of one interval keep their bytes.
    Uniform(i64),
    /// Samples of several intervals: the sum of watts x interval in µW·ns (1e-15 J), and of
    /// samples x interval in ns.
    Mixed { energy: i128, covered_ns: i128 },
}

/// A mergeable sum of power samples: how many, their exact total, and how long they stand
/// for, from which energy and coverage follow.
///
/// Sums of disjoint sets merge into the sum of their union; [`SampleSum::EMPTY`] is the
/// identity, and merging is exactly associative and commutative.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleSum {
    n_samples: u64,
    total: TotalWatts,
    spacing: Spacing,
}

impl Default for SampleSum {
    fn default() -> Self {
        SampleSum::EMPTY
    }
}

impl SampleSum {
    /// The sum of no samples.
    pub const EMPTY: SampleSum = SampleSum {
        n_samples: 0,
        total: TotalWatts::ZERO,
        spacing: Spacing::Empty,
    };

    /// The sum of `n_samples` samples of one series whose nominal interval is `interval`.
    /// A non-positive interval is taken as [`FALLBACK_INTERVAL`].
    pub fn new(n_samples: u64, total: TotalWatts, interval: Duration) -> SampleSum {
        if n_samples == 0 {
            return SampleSum::EMPTY;
        }
        let nanos = i64::try_from(interval.whole_nanoseconds())
            .ok()
            .filter(|nanos| *nanos > 0)
            .unwrap_or(FALLBACK_INTERVAL.whole_nanoseconds() as i64);
        SampleSum {
            n_samples,
            total,
            spacing: Spacing::Uniform(nanos),
        }
    }

    /// How many samples.
    pub fn n_samples(&self) -> u64 {
        self.n_samples
    }

    /// Their exact total.
    pub fn total(&self) -> TotalWatts {
        self.total
    }

    /// The exact energy and covered time, as (µW·ns, ns).
    fn exact(&self) -> (i128, i128) {
        match self.spacing {
            Spacing::Empty => (0, 0),
            Spacing::Uniform(nanos) => (
                self.total.microwatts.saturating_mul(i128::from(nanos)),
                i128::from(self.n_samples).saturating_mul(i128::from(nanos)),
            ),
            Spacing::Mixed { energy, covered_ns } => (energy, covered_ns),
        }
    }

    /// The sum of both sets of samples together.
    #[must_use]
    pub fn merge(self, other: SampleSum) -> SampleSum {
        let spacing = match (self.spacing, other.spacing) {
            (Spacing::Empty, spacing) | (spacing, Spacing::Empty) => spacing,
            (Spacing::Uniform(mine), Spacing::Uniform(theirs)) if mine == theirs => {
                Spacing::Uniform(mine)
            }
            _ => {
                let ((my_energy, my_time), (their_energy, their_time)) =
                    (self.exact(), other.exact());
                Spacing::Mixed {
                    energy: my_energy.saturating_add(their_energy),
                    covered_ns: my_time.saturating_add(their_time),
                }
            }
        };
        SampleSum {
            n_samples: self.n_samples + other.n_samples,
            total: self.total + other.total,
            spacing,
        }
    }

    /// The energy in watt-seconds: each sample times its series' interval, summed.
    pub fn energy_watt_seconds(&self) -> f64 {
        match self.spacing {
            Spacing::Empty => 0.0,
            Spacing::Uniform(nanos) => {
                self.total.as_f64() * Duration::nanoseconds(nanos).as_seconds_f64()
            }
            Spacing::Mixed { energy, .. } => quotient_to_f64(energy, FEMTOJOULES_PER_JOULE),
        }
    }

    /// The energy in watt-hours, [`SampleSum::energy_watt_seconds`] / 3600.
    pub fn energy_wh(&self) -> f64 {
        self.energy_watt_seconds() / 3600.0
    }

    /// The time the samples stand for, in seconds: each sample's series' interval, summed.
    pub fn covered_seconds(&self) -> f64 {
        match self.spacing {
            Spacing::Empty => 0.0,
            Spacing::Uniform(nanos) => {
                self.n_samples as f64 * Duration::nanoseconds(nanos).as_seconds_f64()
            }
            Spacing::Mixed { covered_ns, .. } => quotient_to_f64(covered_ns, NANOS_PER_SECOND),
        }
    }

    /// The share of the expected samples that are present, in `[0, 1]`: the covered time
    /// over `window_nanos * n_series`, and 0 when there are no series.
    pub fn coverage(&self, window_nanos: i128, n_series: usize) -> f64 {
        if n_series == 0 || window_nanos <= 0 {
            return 0.0;
        }
        let window_seconds = window_nanos as f64 / 1e9;
        let coverage = self.covered_seconds() / (window_seconds * n_series as f64);
        coverage.clamp(0.0, 1.0)
    }
}

/// A summary of power samples: their [`SampleSum`], minimum and maximum.
///
/// Summaries of disjoint sets merge into the summary of their union. [`UsageStats::EMPTY`] is
/// the identity, and merging is exactly associative and commutative.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UsageStats {
    sum: SampleSum,
    min: f64,
    max: f64,
}

impl Default for UsageStats {
    fn default() -> Self {
        UsageStats::EMPTY
    }
}

impl UsageStats {
    /// The summary of no samples.
    pub const EMPTY: UsageStats = UsageStats {
        sum: SampleSum::EMPTY,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    /// The summary of samples of one series whose nominal interval is `interval`. The values
    /// must be finite.
    pub fn of_samples(samples: impl IntoIterator<Item = f64>, interval: Duration) -> UsageStats {
        let (mut n, mut total) = (0u64, TotalWatts::ZERO);
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for watts in samples {
            debug_assert!(watts.is_finite(), "samples are validated as finite");
            n += 1;
            total += TotalWatts::of_sample(watts);
            min = min.min(watts);
            max = max.max(watts);
        }
        UsageStats::from_parts(n, total, min, max, interval)
    }

    /// A summary from figures computed elsewhere, for example by an index or a database, of
    /// samples of one series whose nominal interval is `interval`.
    ///
    /// With `n_samples == 0` the other figures are ignored and the result is [`UsageStats::EMPTY`].
    pub fn from_parts(
        n_samples: u64,
        total: TotalWatts,
        min: f64,
        max: f64,
        interval: Duration,
    ) -> UsageStats {
        if n_samples == 0 {
            return UsageStats::EMPTY;
        }
        UsageStats {
            sum: SampleSum::new(n_samples, total, interval),
            min,
            max,
        }
    }

    /// The summary of both sets of samples together.
    #[must_use]
    pub fn merge(self, other: UsageStats) -> UsageStats {
        UsageStats {
            sum: self.sum.merge(other.sum),
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }

    /// The count, total and time the samples stand for.
    pub fn sum(&self) -> SampleSum {
        self.sum
    }

    /// How many samples.
    pub fn n_samples(&self) -> u64 {
        self.sum.n_samples
    }

    /// The sum of the samples in watts.
    pub fn total(&self) -> TotalWatts {
        self.sum.total
    }

    /// The smallest sample, if any.
    pub fn min(&self) -> Option<f64> {
        (self.sum.n_samples > 0).then_some(self.min)
    }

    /// The largest sample, if any.
    pub fn max(&self) -> Option<f64> {
        (self.sum.n_samples > 0).then_some(self.max)
    }

    /// The mean sample, `total / n_samples`, if any.
    pub fn average(&self) -> Option<f64> {
        (self.sum.n_samples > 0).then(|| self.sum.total.as_f64() / self.sum.n_samples as f64)
    }

    /// The energy in watt-hours, see [`SampleSum::energy_wh`].
    pub fn energy_wh(&self) -> f64 {
        self.sum.energy_wh()
    }

    /// The share of expected samples present, see [`SampleSum::coverage`].
    pub fn coverage(&self, window_nanos: i128, n_series: usize) -> f64 {
        self.sum.coverage(window_nanos, n_series)
    }
}

impl std::iter::Sum for UsageStats {
    fn sum<I: Iterator<Item = UsageStats>>(iter: I) -> UsageStats {
        iter.fold(UsageStats::EMPTY, UsageStats::merge)
    }
}

/// The statistics of several series over the same ranges: a row of [`UsageStats`] per
/// series, each with one entry per range, in one allocation.
///
/// One allocation rather than a list per series: a call covers tens of series over
/// thousands of ranges, and a streaming request makes hundreds of calls. Lists of tens of
/// kilobytes, freed by the dozen at every call, were handed back to the system by glibc's
/// allocator and faulted in again at the next call; one allocation of megabytes moves glibc's
/// thresholds, and the next call is served from memory the process kept.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeStats {
    series: usize,
    ranges: usize,
    cells: Vec<UsageStats>,
}

impl RangeStats {
    /// `series` rows of `ranges` entries, each [`UsageStats::EMPTY`].
    pub fn empty(series: usize, ranges: usize) -> RangeStats {
        RangeStats {
            series,
            ranges,
            cells: vec![UsageStats::EMPTY; series * ranges],
        }
    }

    /// How many series (rows) it holds.
    pub fn series_count(&self) -> usize {
        self.series
    }

    /// How many ranges each row has.
    pub fn range_count(&self) -> usize {
        self.ranges
    }

    /// The row of series `index`, one entry per range. Panics past the last series.
    pub fn series(&self, index: usize) -> &[UsageStats] {
        assert!(index < self.series, "series {index} of {}", self.series);
        &self.cells[index * self.ranges..][..self.ranges]
    }

    /// The row of series `index`, to write. Panics past the last series.
    pub fn series_mut(&mut self, index: usize) -> &mut [UsageStats] {
        assert!(index < self.series, "series {index} of {}", self.series);
        &mut self.cells[index * self.ranges..][..self.ranges]
    }

    /// Merges `stats` into the entry of series `series` and range `range`; figures for a
    /// series or range it does not hold are ignored.
    pub fn merge_at(&mut self, series: usize, range: usize, stats: UsageStats) {
        if series < self.series && range < self.ranges {
            let cell = &mut self.cells[series * self.ranges + range];
            *cell = cell.merge(stats);
        }
    }

    /// Every row, in series order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[UsageStats]> + '_ {
        (0..self.series).map(|index| self.series(index))
    }
}

impl std::ops::Index<usize> for RangeStats {
    type Output = [UsageStats];

    fn index(&self, series: usize) -> &[UsageStats] {
        self.series(series)
    }
}

/// The usage of one or more series over a window, with the figures derived from the stats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Usage {
    /// The merged statistics.
    pub stats: UsageStats,
    /// Energy in watt-hours, see [`SampleSum::energy_wh`].
    pub energy_wh: f64,
    /// Share of expected samples present, see [`SampleSum::coverage`].
    pub coverage: f64,
}

/// How energy changed between two spans, as a usage comparison reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnergyChange {
    /// This span's energy minus the other's, in watt-hours.
    pub difference_wh: f64,
    /// This span's energy over the other's; `None` when the other's is zero.
    pub ratio: Option<f64>,
}

impl Usage {
    /// How this usage's energy changed from `other`'s.
    pub fn energy_change_from(&self, other: &Usage) -> EnergyChange {
        EnergyChange {
            difference_wh: self.energy_wh - other.energy_wh,
            ratio: (other.energy_wh != 0.0).then(|| self.energy_wh / other.energy_wh),
        }
    }

    /// Derives the usage figures of `stats` measured over `n_series` series for `window_nanos`.
    pub fn new(stats: UsageStats, window_nanos: i128, n_series: usize) -> Usage {
        Usage {
            stats,
            energy_wh: stats.energy_wh(),
            coverage: stats.coverage(window_nanos, n_series),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sample counts of every row of `stats`.
    fn counts(stats: &RangeStats) -> Vec<Vec<u64>> {
        stats
            .rows()
            .map(|row| row.iter().map(UsageStats::n_samples).collect())
            .collect()
    }

    #[test]
    fn range_stats_keep_each_series_row_and_ignore_figures_outside_them() {
        let one = UsageStats::of_samples([5.0], Duration::minutes(1));
        let mut stats = RangeStats::empty(2, 3);
        stats.merge_at(1, 2, one);
        stats.merge_at(1, 2, one);
        stats.merge_at(2, 0, one);
        stats.merge_at(0, 3, one);
        stats.series_mut(0)[1] = one;
        assert_eq!(counts(&stats), [vec![0, 1, 0], vec![0, 0, 2]]);
        assert_eq!((stats.series_count(), stats.range_count()), (2, 3));
        assert_eq!(&stats[1], stats.series(1));
        assert_eq!(counts(&RangeStats::empty(2, 0)), [vec![], vec![]]);
        assert_eq!(counts(&RangeStats::empty(0, 4)), Vec::<Vec<u64>>::new());
    }

    fn check_change(here_wh: f64, there_wh: f64, expected: EnergyChange) {
        let usage = |energy_wh| Usage {
            stats: UsageStats::EMPTY,
            energy_wh,
            coverage: 0.0,
        };
        assert_eq!(
            usage(here_wh).energy_change_from(&usage(there_wh)),
            expected
        );
    }

    #[test]
    fn energy_changes_are_a_difference_and_a_ratio_that_needs_a_nonzero_base() {
        let change = |difference_wh, ratio| EnergyChange {
            difference_wh,
            ratio,
        };
        check_change(30.0, 20.0, change(10.0, Some(1.5)));
        check_change(0.0, 20.0, change(-20.0, Some(0.0)));
        check_change(5.0, 0.0, change(5.0, None));
        check_change(0.0, 0.0, change(0.0, None));
    }

    const MINUTE: Duration = Duration::minutes(1);

    fn check(samples: &[f64], expected: (u64, i128, Option<f64>, Option<f64>, Option<f64>)) {
        let stats = UsageStats::of_samples(samples.iter().copied(), MINUTE);
        let actual = (
            stats.n_samples(),
            stats.total().microwatts(),
            stats.min(),
            stats.max(),
            stats.average(),
        );
        assert_eq!(actual, expected, "samples: {samples:?}");
    }

    #[test]
    fn summarises_samples() {
        check(&[], (0, 0, None, None, None));
        check(&[5.0], (1, 5_000_000, Some(5.0), Some(5.0), Some(5.0)));
        check(
            &[1.0, 2.0, 4.0],
            (3, 7_000_000, Some(1.0), Some(4.0), Some(7.0 / 3.0)),
        );
        check(&[-3.0, 3.0], (2, 0, Some(-3.0), Some(3.0), Some(0.0)));
        check(
            &[0.5, 1.0],
            (2, 1_500_000, Some(0.5), Some(1.0), Some(0.75)),
        );
        // Fractions add up exactly: ten tenths are one watt, not 0.9999999999999999.
        check(&[0.1; 10], (10, 1_000_000, Some(0.1), Some(0.1), Some(0.1)));
        // Order does not matter, however far apart the magnitudes.
        check(
            &[0.1, 1e9, -1e9],
            (3, 100_000, Some(-1e9), Some(1e9), Some(0.1 / 3.0)),
        );
    }

    fn check_parts(watts: f64, expected: (i64, i64)) {
        assert_eq!(sample_parts(watts), expected, "{watts}");
    }

    #[test]
    fn splits_samples_into_whole_watts_and_rounded_microwatts() {
        check_parts(0.0, (0, 0));
        check_parts(2093.0, (2093, 0));
        check_parts(0.1, (0, 100_000));
        check_parts(-0.1, (0, -100_000));
        check_parts(-2.75, (-2, -750_000));
        check_parts(1e9, (1_000_000_000, 0));
        check_parts(-1e9, (-1_000_000_000, 0));
        // Below a microwatt: to the nearest.
        check_parts(0.0000004, (0, 0));
        check_parts(0.0000006, (0, 1));
        check_parts(0.99999999, (0, 1_000_000));
    }

    fn check_f64(microwatts: i128, expected: f64) {
        let total = TotalWatts::from_parts(0, microwatts);
        assert_eq!(total.as_f64(), expected, "{microwatts} µW");
    }

    #[test]
    fn converts_totals_to_the_nearest_f64() {
        check_f64(0, 0.0);
        check_f64(100_000, 0.1);
        check_f64(-100_000, -0.1);
        check_f64(7_000_000, 7.0);
        // Whole totals past 2^53 µW convert as integers do.
        check_f64(9_007_199_254_740_993_000_000, 9_007_199_254_740_992.0);
        check_f64(123_456_789_012_345_000_000, 123_456_789_012_345.0);
        check_f64(123_456_789_012_345_500_000, 123_456_789_012_345.5);
    }

    #[test]
    fn totals_compare_exactly() {
        let total = |whole, fraction| TotalWatts::from_parts(whole, fraction);
        // 2^53 + 1 and 2^53 are the same f64; as totals they differ.
        assert!(total(9_007_199_254_740_993, 0) > total(9_007_199_254_740_992, 0));
        assert!(total(7, 1) > total(7, 0));
        assert!(total(7, -1) < total(7, 0));
        assert_eq!(total(7, 0), total(6, 1_000_000));
    }

    #[test]
    fn derives_energy_and_coverage() {
        let hour_nanos = 3_600_000_000_000i128;
        let stats = UsageStats::of_samples([600.0; 60], MINUTE);
        assert_eq!(stats.energy_wh(), 600.0);
        assert_eq!(stats.coverage(hour_nanos, 1), 1.0);
        assert_eq!(stats.coverage(hour_nanos, 2), 0.5);
        assert_eq!(stats.coverage(hour_nanos, 0), 0.0);
        // A window shorter than one interval still caps at full coverage.
        assert_eq!(stats.coverage(1, 1), 1.0);
        assert_eq!(UsageStats::EMPTY.energy_wh(), 0.0);
        assert_eq!(UsageStats::EMPTY.coverage(hour_nanos, 3), 0.0);
    }

    #[test]
    fn each_series_counts_at_its_own_interval() {
        let hour_nanos = 3_600_000_000_000i128;
        // An hour at one sample a minute, and an hour at one every ten seconds.
        let minutely = UsageStats::of_samples([600.0; 60], MINUTE);
        let fast = UsageStats::of_samples([600.0; 360], Duration::seconds(10));
        assert_eq!(fast.energy_wh(), 600.0);
        for together in [minutely.merge(fast), fast.merge(minutely)] {
            assert_eq!(together.energy_wh(), 1200.0);
            assert_eq!(together.coverage(hour_nanos, 2), 1.0);
            assert_eq!(together.n_samples(), 420);
        }
        // Series of one interval keep the figures of that interval exactly.
        let twice = minutely.merge(minutely);
        assert_eq!(twice.sum(), SampleSum::new(120, twice.total(), MINUTE));
        assert_eq!(twice.energy_wh(), 1200.0);
    }
}
