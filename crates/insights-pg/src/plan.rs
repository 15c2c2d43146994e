//! Splits ranges into runs of rollup rows and raw samples, so that a range costs a handful of
//! index scans and rows in proportion to its days, hours and quarters, not to its samples.
//!
//! The rollups (`db/timeseries.sql`) hold, per series, the count, sums, minimum and maximum
//! of the samples in `[start, start + span)` for three spans: 15 minutes, starting on the
//! 15-minute grid; and one hour and one day, starting at *every* 15-minute boundary. Every UTC
//! offset in use today is a whole number of quarter hours (Kolkata's :30 and Kathmandu's :45
//! too), so a bucket edge in any zone lies on the grid, and an hour or day bucket that starts
//! there is one row, whatever its zone's offset. A range is tiled from its start: whole days,
//! then whole hours, then quarters, then raw samples for the parts off the grid at either end.
//! Rows of one span and phase lie together in the index, so the days of consecutive buckets
//! merge into a single scan.
//!
//! All instants are microseconds since the epoch, PostgreSQL's precision.

/// Microseconds in 15 minutes: the grid every rollup row starts on.
pub(crate) const QUARTER_US: i64 = 900_000_000;
/// Microseconds in an hour.
pub(crate) const HOUR_US: i64 = 4 * QUARTER_US;
/// Microseconds in a day.
pub(crate) const DAY_US: i64 = 24 * HOUR_US;

/// What a run reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    /// Samples from `power_samples`.
    Raw,
    /// 15-minute rollup rows.
    Quarter,
    /// One-hour rollup rows.
    Hour,
    /// One-day rollup rows.
    Day,
}

impl Level {
    /// The span of the level's rows in seconds, as stored in `power_rollups.span_s`; 0 for raw
    /// samples.
    pub(crate) fn span_s(self) -> i32 {
        (self.span_us() / 1_000_000) as i32
    }

    fn span_us(self) -> i64 {
        match self {
            Level::Raw => 0,
            Level::Quarter => QUARTER_US,
            Level::Hour => HOUR_US,
            Level::Day => DAY_US,
        }
    }
}

/// The rows of one level, and for rollups of one phase, whose start lies in `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) level: Level,
    /// The rows' start modulo their span, in seconds, as stored in `power_rollups.phase_s`;
    /// 0 for raw samples.
    pub(crate) phase_s: i32,
    pub(crate) from: i64,
    pub(crate) to: i64,
}

/// The runs that read every sample in `[edges[0], edges[last])` exactly once, none of them
/// crossing an edge, so each row belongs to the range its start falls in. `edges` are
/// strictly increasing.
pub(crate) fn plan(edges: &[i64]) -> Vec<Run> {
    let mut runs = Vec::new();
    for pair in edges.windows(2) {
        tile(pair[0], pair[1], &mut runs);
    }
    runs
}

/// One raw run over the whole of `edges`, for answers from samples alone.
pub(crate) fn plan_raw(edges: &[i64]) -> Vec<Run> {
    match (edges.first(), edges.last()) {
        (Some(&from), Some(&to)) if from < to => vec![Run {
            level: Level::Raw,
            phase_s: 0,
            from,
            to,
        }],
        _ => Vec::new(),
    }
}

fn tile(start: i64, end: i64, runs: &mut Vec<Run>) {
    let (first, last) = (ceil(start, QUARTER_US), floor(end, QUARTER_US));
    if first >= last {
        push(runs, Level::Raw, start, end);
        return;
    }
    push(runs, Level::Raw, start, first);
    let mut at = first;
    for level in [Level::Day, Level::Hour, Level::Quarter] {
        let span = level.span_us();
        let whole = (last - at) / span * span;
        push(runs, level, at, at + whole);
        at += whole;
    }
    push(runs, Level::Raw, last, end);
}

/// Appends a run, or lengthens the last one when it reads the same rows just before.
fn push(runs: &mut Vec<Run>, level: Level, from: i64, to: i64) {
    if from >= to {
        return;
    }
    let phase_s = match level {
        Level::Raw => 0,
        _ => (from.rem_euclid(level.span_us()) / 1_000_000) as i32,
    };
    if let Some(last) = runs.last_mut() {
        if last.level == level && last.phase_s == phase_s && last.to == from {
            last.to = to;
            return;
        }
    }
    runs.push(Run {
        level,
        phase_s,
        from,
        to,
    });
}

fn floor(instant: i64, step: i64) -> i64 {
    instant.div_euclid(step) * step
}

fn ceil(instant: i64, step: i64) -> i64 {
    floor(instant, step)
        + if instant.rem_euclid(step) == 0 {
            0
        } else {
            step
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000_000;
    /// 2024-03-10T00:00:00Z, a UTC midnight.
    const MIDNIGHT: i64 = 1_710_028_800_000_000;

    fn check(edges: &[i64], expected: &[(Level, i32, i64, i64)]) {
        let actual: Vec<_> = plan(edges)
            .into_iter()
            .map(|run| (run.level, run.phase_s, run.from, run.to))
            .collect();
        assert_eq!(actual, expected, "edges {edges:?}");
    }

    #[test]
    fn tiles_ranges_with_the_coarsest_rows_that_fit() {
        use Level::*;
        let m = |minutes: i64| MIDNIGHT + minutes * MINUTE;
        // An hour on the hour is one hourly row.
        check(&[m(60), m(120)], &[(Hour, 0, m(60), m(120))]);
        // Seven minutes past: raw edges around three quarters.
        check(
            &[m(7), m(67)],
            &[
                (Raw, 0, m(7), m(15)),
                (Quarter, 0, m(15), m(60)),
                (Raw, 0, m(60), m(67)),
            ],
        );
        // Inside one quarter: raw only.
        check(&[m(1), m(14)], &[(Raw, 0, m(1), m(14))]);
        // Kathmandu's hours start at :15 UTC, and merge into one run of phase 900 s.
        check(
            &[m(15), m(75), m(135), m(195)],
            &[(Hour, 900, m(15), m(195))],
        );
        // New York's days start at 05:00 UTC in winter; a 25-hour day adds an hour row.
        let day = 24 * 60;
        check(
            &[
                m(300),
                m(300 + day),
                m(300 + 2 * day),
                m(300 + 3 * day + 60),
            ],
            &[
                (Day, 5 * 3600, m(300), m(300 + 3 * day)),
                (Hour, 0, m(300 + 3 * day), m(300 + 3 * day + 60)),
            ],
        );
        // A 23-hour day is 23 hourly rows.
        check(
            &[m(240), m(240 + 23 * 60)],
            &[(Hour, 0, m(240), m(240 + 23 * 60))],
        );
        // Before the epoch too.
        check(&[-DAY_US, 0], &[(Day, 0, -DAY_US, 0)]);
    }

    #[test]
    fn plans_one_raw_run_for_answers_from_samples() {
        assert_eq!(
            plan_raw(&[5, 9, 12]),
            [Run {
                level: Level::Raw,
                phase_s: 0,
                from: 5,
                to: 12
            }]
        );
        assert_eq!(plan_raw(&[5]), []);
    }
}
