//! Mergeable usage statistics (count, sum, min, max) and the derived figures a usage answer reports.

use std::iter::Sum;

use time::Duration;

/// The largest integer every smaller magnitude of which an `f64` holds exactly; integer
/// samples up to it are summed exactly in integer arithmetic.
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

/// The largest magnitude a power sample may have, in watts: 1 GW, far above what any circuit
/// draws (a large factory's whole supply is tens of MW). Sources refuse samples beyond it, so
/// the integer total of a 366-day window fits a signed 64-bit integer even at 100 samples a
/// second (3.2e16 samples x 1e9 W < 9.2e18), in memory and in SQL alike.
pub const MAX_ABS_WATTS: f64 = 1e9;

/// The sum of a set of power samples in watts.
///
/// Integer-valued samples add up exactly in `integer`; other samples add up in `real`.
/// So a total over integer samples is exact however many there are.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TotalWatts {
    /// The exact sum of the integer-valued samples.
    pub integer: i128,
    /// The sum of the samples that are not whole numbers.
    pub real: f64,
}

impl TotalWatts {
    /// The total as a float.
    pub fn as_f64(&self) -> f64 {
        self.integer as f64 + self.real
    }

    /// The total as an exact integer, when no fractional part contributes to it.
    pub fn as_integer(&self) -> Option<i128> {
        (self.real == 0.0).then_some(self.integer)
    }

    /// Orders totals by value, exactly when both are integers.
    pub fn cmp_value(&self, other: &TotalWatts) -> std::cmp::Ordering {
        match (self.as_integer(), other.as_integer()) {
            (Some(mine), Some(theirs)) => mine.cmp(&theirs),
            _ => self.as_f64().total_cmp(&other.as_f64()),
        }
    }
}

impl std::ops::Add for TotalWatts {
    type Output = TotalWatts;

    fn add(self, other: TotalWatts) -> TotalWatts {
        TotalWatts {
            integer: self.integer + other.integer,
            real: self.real + other.real,
        }
    }
}

impl std::ops::AddAssign for TotalWatts {
    fn add_assign(&mut self, other: TotalWatts) {
        *self = *self + other;
    }
}

/// Whether a sample in watts is summed exactly as an integer.
pub fn is_exact_integer(watts: f64) -> bool {
    watts.fract() == 0.0 && watts.abs() <= EXACT_INTEGER_LIMIT
}

/// A summary of power samples: how many, their sum, minimum and maximum.
///
/// Summaries of disjoint sets merge into the summary of their union. [`UsageStats::EMPTY`] is
/// the identity, and merging is associative and commutative (exactly so for integer samples).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UsageStats {
    n_samples: u64,
    total: TotalWatts,
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
        n_samples: 0,
        total: TotalWatts {
            integer: 0,
            real: 0.0,
        },
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    /// The summary of one sample. The value must be finite.
    pub fn from_sample(watts: f64) -> UsageStats {
        debug_assert!(watts.is_finite(), "samples are validated as finite");
        let total = if is_exact_integer(watts) {
            TotalWatts {
                integer: watts as i128,
                real: 0.0,
            }
        } else {
            TotalWatts {
                integer: 0,
                real: watts,
            }
        };
        UsageStats {
            n_samples: 1,
            total,
            min: watts,
            max: watts,
        }
    }

    /// A summary from figures computed elsewhere, for example by an index or a database.
    ///
    /// With `n_samples == 0` the other figures are ignored and the result is [`UsageStats::EMPTY`].
    pub fn from_parts(n_samples: u64, total: TotalWatts, min: f64, max: f64) -> UsageStats {
        if n_samples == 0 {
            return UsageStats::EMPTY;
        }
        UsageStats {
            n_samples,
            total,
            min,
            max,
        }
    }

    /// The summary of both sets of samples together.
    #[must_use]
    pub fn merge(self, other: UsageStats) -> UsageStats {
        UsageStats {
            n_samples: self.n_samples + other.n_samples,
            total: self.total + other.total,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }

    /// How many samples.
    pub fn n_samples(&self) -> u64 {
        self.n_samples
    }

    /// The sum of the samples in watts.
    pub fn total(&self) -> TotalWatts {
        self.total
    }

    /// The smallest sample, if any.
    pub fn min(&self) -> Option<f64> {
        (self.n_samples > 0).then_some(self.min)
    }

    /// The largest sample, if any.
    pub fn max(&self) -> Option<f64> {
        (self.n_samples > 0).then_some(self.max)
    }

    /// The mean sample, `total / n_samples`, if any.
    pub fn average(&self) -> Option<f64> {
        (self.n_samples > 0).then(|| self.total.as_f64() / self.n_samples as f64)
    }

    /// The energy in watt-hours when each sample stands for one nominal `interval`:
    /// `total * interval_s / 3600`.
    pub fn energy_wh(&self, interval: Duration) -> f64 {
        self.total.as_f64() * interval.as_seconds_f64() / 3600.0
    }

    /// The share of the expected samples that are present, in `[0, 1]`:
    /// `n_samples * interval_s / (window_s * n_series)`, and 0 when there are no series.
    pub fn coverage(&self, interval: Duration, window_nanos: i128, n_series: usize) -> f64 {
        if n_series == 0 || window_nanos <= 0 {
            return 0.0;
        }
        let window_seconds = window_nanos as f64 / 1e9;
        let coverage =
            self.n_samples as f64 * interval.as_seconds_f64() / (window_seconds * n_series as f64);
        coverage.clamp(0.0, 1.0)
    }
}

impl Sum for UsageStats {
    fn sum<I: Iterator<Item = UsageStats>>(iter: I) -> UsageStats {
        iter.fold(UsageStats::EMPTY, UsageStats::merge)
    }
}

impl FromIterator<f64> for UsageStats {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> UsageStats {
        iter.into_iter().map(UsageStats::from_sample).sum()
    }
}

/// The usage of one or more series over a window, with the figures derived from the stats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Usage {
    /// The merged statistics.
    pub stats: UsageStats,
    /// Energy in watt-hours, see [`UsageStats::energy_wh`].
    pub energy_wh: f64,
    /// Share of expected samples present, see [`UsageStats::coverage`].
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
    pub fn new(
        stats: UsageStats,
        interval: Duration,
        window_nanos: i128,
        n_series: usize,
    ) -> Usage {
        Usage {
            stats,
            energy_wh: stats.energy_wh(interval),
            coverage: stats.coverage(interval, window_nanos, n_series),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn check(
        samples: &[f64],
        expected: (u64, Option<i128>, Option<f64>, Option<f64>, Option<f64>),
    ) {
        let stats: UsageStats = samples.iter().copied().collect();
        let actual = (
            stats.n_samples(),
            stats.total().as_integer(),
            stats.min(),
            stats.max(),
            stats.average(),
        );
        assert_eq!(actual, expected, "samples: {samples:?}");
    }

    #[test]
    fn summarises_samples() {
        check(&[], (0, Some(0), None, None, None));
        check(&[5.0], (1, Some(5), Some(5.0), Some(5.0), Some(5.0)));
        check(
            &[1.0, 2.0, 4.0],
            (3, Some(7), Some(1.0), Some(4.0), Some(7.0 / 3.0)),
        );
        check(&[-3.0, 3.0], (2, Some(0), Some(-3.0), Some(3.0), Some(0.0)));
        check(&[0.5, 1.0], (2, None, Some(0.5), Some(1.0), Some(0.75)));
        // Integer sums past f64's exact range stay exact.
        check(
            &[9_007_199_254_740_992.0, 1.0, 1.0],
            (
                3,
                Some(9_007_199_254_740_994),
                Some(1.0),
                Some(9_007_199_254_740_992.0),
                Some(9_007_199_254_740_994.0 / 3.0),
            ),
        );
    }

    #[test]
    fn totals_compare_exactly_when_both_are_integers() {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let integer = |integer| TotalWatts { integer, real: 0.0 };
        let check = |a: TotalWatts, b: TotalWatts, expected| {
            assert_eq!(a.cmp_value(&b), expected, "{a:?} against {b:?}");
        };
        // 2^53 + 1 and 2^53 are the same f64; as integers they differ.
        check(
            integer(9_007_199_254_740_993),
            integer(9_007_199_254_740_992),
            Greater,
        );
        check(
            integer(9_007_199_254_740_992),
            integer(9_007_199_254_740_993),
            Less,
        );
        check(integer(7), integer(7), Equal);
        // With a fraction on either side, the values compare as floats.
        let mixed = TotalWatts {
            integer: 7,
            real: 0.5,
        };
        check(mixed, integer(7), Greater);
        check(integer(8), mixed, Greater);
    }

    #[test]
    fn derives_energy_and_coverage() {
        let minute = Duration::minutes(1);
        let hour_nanos = 3_600_000_000_000i128;
        let stats: UsageStats = [600.0; 60].into_iter().collect();
        assert_eq!(stats.energy_wh(minute), 600.0);
        assert_eq!(stats.coverage(minute, hour_nanos, 1), 1.0);
        assert_eq!(stats.coverage(minute, hour_nanos, 2), 0.5);
        assert_eq!(stats.coverage(minute, hour_nanos, 0), 0.0);
        // A window shorter than one interval still caps at full coverage.
        assert_eq!(stats.coverage(minute, 1, 1), 1.0);
        assert_eq!(UsageStats::EMPTY.energy_wh(minute), 0.0);
        assert_eq!(UsageStats::EMPTY.coverage(minute, hour_nanos, 3), 0.0);
    }
}
