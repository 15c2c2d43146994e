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
//! merge into a single scan. Rows longer than a quarter exist only up to the import's
//! watermark; past it a range is read from quarters.
//!
//! All instants are microseconds since the epoch, PostgreSQL's precision.

/// Microseconds in 15 minutes: the grid every rollup row starts on.
pub(crate) const QUARTER_US: i64 = 900_000_000;
/// Microseconds in an hour.
pub(crate) const HOUR_US: i64 = 4 * QUARTER_US;
/// Microseconds in a day.
pub(crate) const DAY_US: i64 = 24 * HOUR_US;

/// Ranges with at least this many whole UTC days read them from 8- and 64-day blocks.
/// Shorter ones read their days as one run at their own phase, from packs of 32 days (at
/// most 7 packs, 10 KB, a series for one range): one index scan a series where blocks take
/// five. Each pack costs its 1,408 bytes on the wire, though, so past about six packs a
/// series the five scans of blocks are cheaper (measured on 60 circuits with `xtask scale`,
/// see the messages of 99a4c4f and 8af905d: 120 days 1.5 × the hour from packs, 2.5 × from
/// blocks; 366 days 3.1 × from packs, 2.7 × from blocks), and blocks keep a century's window
/// (the longest `INSIGHTS_MAX_WINDOW_DAYS` allows, 36,600 days) at under 650 rows a series
/// where packs would be 1,145.
const BLOCKS_FROM_US: i64 = 192 * DAY_US;

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
    /// Eight-day rollup rows, starting at UTC midnights 8 days apart from the epoch.
    Days8,
    /// 64-day rollup rows, starting at UTC midnights 64 days apart from the epoch.
    Days64,
}

impl Level {
    /// The span of the level's rows in seconds, as stored in `power_rollups.span_s`; 0 for raw
    /// samples.
    pub(crate) fn span_s(self) -> i32 {
        (self.span_us() / 1_000_000) as i32
    }

    /// How many rows of the level one pack holds (`power_rollup_packs`), for the levels
    /// answers read from packs: a day of hours or 32 days, per series and phase. At 44 bytes a
    /// row, a pack's entries are at most 1,408 bytes, so PostgreSQL keeps the row inline,
    /// never TOASTed, while its duid is under about 550 bytes.
    pub(crate) fn pack_len(self) -> Option<i64> {
        match self {
            Level::Hour => Some(24),
            Level::Day => Some(32),
            Level::Raw | Level::Quarter | Level::Days8 | Level::Days64 => None,
        }
    }

    /// The span of the level's rows in microseconds; 0 for raw samples.
    pub(crate) fn span_us(self) -> i64 {
        match self {
            Level::Raw => 0,
            Level::Quarter => QUARTER_US,
            Level::Hour => HOUR_US,
            Level::Day => DAY_US,
            Level::Days8 => 8 * DAY_US,
            Level::Days64 => 64 * DAY_US,
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

/// Runs of at least this many rows of a packed level read packs; shorter ones read the rows,
/// so a short range does not fetch a whole pack for a few of its entries.
pub(crate) const PACKED_FROM_ROWS: i64 = 8;

/// Whether `run` reads packs rather than rows.
pub(crate) fn reads_packs(run: &Run) -> bool {
    run.level.pack_len().is_some() && (run.to - run.from) / run.level.span_us() >= PACKED_FROM_ROWS
}

/// The start of the pack of `level` (one that [`Level::pack_len`] packs) that holds the row
/// starting at `start`: packs of one phase start a pack's length apart, on that phase.
pub(crate) fn pack_start(level: Level, start: i64) -> Option<i64> {
    let length = level.pack_len()? * level.span_us();
    let phase = start.rem_euclid(level.span_us());
    Some(start - (start - phase).rem_euclid(length))
}

/// The runs that read every sample in `[edges[0], edges[last])` exactly once, with no rollup
/// row crossing an edge, so each row belongs to the range its start falls in (raw runs may
/// span edges: a sample's instant places it). `edges` are strictly increasing.
///
/// Rows coarser than a quarter exist only where they end at or before `final_before` (the
/// watermark the import keeps, on the 15-minute grid; `i64::MIN` when there is none): after
/// it, the import maintains only the 15-minute rows, so a range is read from quarters there.
pub(crate) fn plan(edges: &[i64], final_before: i64) -> Vec<Run> {
    let mut runs = Vec::new();
    for pair in edges.windows(2) {
        tile(pair[0], pair[1], final_before, &mut runs);
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

fn tile(start: i64, end: i64, final_before: i64, runs: &mut Vec<Run>) {
    let (first, end_of_quarters) = (ceil(start, QUARTER_US), floor(end, QUARTER_US));
    if first >= end_of_quarters {
        push(runs, Level::Raw, start, end);
        return;
    }
    push(runs, Level::Raw, start, first);
    // Coarse rows up to the watermark, quarters after it.
    let last = floor(final_before.clamp(first, end_of_quarters), QUARTER_US);
    let (first_midnight, last_midnight) = (ceil(first, DAY_US), floor(last, DAY_US));
    if last_midnight - first_midnight >= BLOCKS_FROM_US {
        // Long: hours to the first UTC midnight, blocks of days between, hours after.
        fill(first, first_midnight, &[Level::Hour, Level::Quarter], runs);
        blocks(first_midnight, last_midnight, runs);
        fill(last_midnight, last, &[Level::Hour, Level::Quarter], runs);
    } else {
        // Short, or a bucket: days, hours and quarters from its own start, at its phase.
        fill(
            first,
            last,
            &[Level::Day, Level::Hour, Level::Quarter],
            runs,
        );
    }
    fill(last, end_of_quarters, &[Level::Quarter], runs);
    push(runs, Level::Raw, end_of_quarters, end);
}

/// Tiles `[from, to)` from `from` with as many rows of each level in turn as fit; returns
/// where the tiling stopped, which is `to` when the last level's span divides what is left.
fn fill(from: i64, to: i64, levels: &[Level], runs: &mut Vec<Run>) -> i64 {
    let mut at = from;
    for level in levels {
        let span = level.span_us();
        let whole = (to - at) / span * span;
        push(runs, *level, at, at + whole);
        at += whole;
    }
    at
}

/// Tiles `[from, to)`, both UTC midnights, with days up to the first 8-day boundary, 8-day
/// blocks up to the first 64-day one, 64-day blocks, then 8-day blocks and days to the end:
/// at most 28 rows (7 days and 7 blocks of 8 at either end) and 5 runs besides the 64-day
/// blocks.
fn blocks(from: i64, to: i64, runs: &mut Vec<Run>) {
    let levels = [Level::Day, Level::Days8, Level::Days64];
    let mut at = from;
    for pair in levels.windows(2) {
        let stop = ceil(at, pair[1].span_us()).min(to);
        at = fill(at, stop, &pair[..1], runs);
    }
    let mut coarsest_first = levels;
    coarsest_first.reverse();
    fill(at, to, &coarsest_first, runs);
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
    use proptest::strategy::Strategy;

    const MINUTE: i64 = 60_000_000;
    /// 2024-03-10T00:00:00Z, a UTC midnight.
    const MIDNIGHT: i64 = 1_710_028_800_000_000;

    fn check(edges: &[i64], expected: &[(Level, i32, i64, i64)]) {
        let actual: Vec<_> = plan(edges, i64::MAX)
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
    fn reads_quarters_after_the_watermark() {
        use Level::*;
        let m = |minutes: i64| MIDNIGHT + minutes * MINUTE;
        let check = |edges: &[i64], final_before: i64, expected: &[(Level, i32, i64, i64)]| {
            let actual: Vec<_> = plan(edges, final_before)
                .into_iter()
                .map(|run| (run.level, run.phase_s, run.from, run.to))
                .collect();
            assert_eq!(
                actual, expected,
                "edges {edges:?}, watermark {final_before}"
            );
        };
        // A day whose last six hours come after the watermark.
        check(
            &[m(0), m(1440)],
            m(1080),
            &[(Hour, 0, m(0), m(1080)), (Quarter, 0, m(1080), m(1440))],
        );
        // No watermark: quarters throughout, raw at the edges off the grid.
        check(
            &[m(7), m(127)],
            i64::MIN,
            &[
                (Raw, 0, m(7), m(15)),
                (Quarter, 0, m(15), m(120)),
                (Raw, 0, m(120), m(127)),
            ],
        );
        // A watermark after the range changes nothing.
        check(&[m(60), m(120)], m(2000), &[(Hour, 0, m(60), m(120))]);
    }

    #[test]
    fn reads_long_ranges_from_blocks_of_days() {
        use Level::*;
        let d = |days: i64| days * DAY_US;
        let h = |hours: i64| hours * HOUR_US;
        // 2024-04-01 is epoch day 19814: 2 days to an 8-day boundary (19816), 3 blocks of 8
        // to a 64-day one (19840), nine of 64, then 3 of 8 and 6 days to day 20446.
        check(
            &[d(19814), d(20446)],
            &[
                (Day, 0, d(19814), d(19816)),
                (Days8, 0, d(19816), d(19840)),
                (Days64, 0, d(19840), d(20416)),
                (Days8, 0, d(20416), d(20440)),
                (Day, 0, d(20440), d(20446)),
            ],
        );
        // From New York's midnight: 20 hours to UTC midnight, blocks, 4 hours after.
        check(
            &[d(19814) + h(4), d(20346) + h(4)],
            &[
                (Hour, 0, d(19814) + h(4), d(19815)),
                (Day, 0, d(19815), d(19816)),
                (Days8, 0, d(19816), d(19840)),
                (Days64, 0, d(19840), d(20288)),
                (Days8, 0, d(20288), d(20344)),
                (Day, 0, d(20344), d(20346)),
                (Hour, 0, d(20346), d(20346) + h(4)),
            ],
        );
        // Under 192 whole days: days at the range's own phase, one run, read from packs.
        check(
            &[d(19814) + h(4), d(19934) + h(4)],
            &[(Day, 4 * 3600, d(19814) + h(4), d(19934) + h(4))],
        );
    }

    proptest::proptest! {
        /// Whatever the edges, the runs read every instant between the first and last edge
        /// exactly once, no rollup row crosses an edge, and each rollup run holds whole rows
        /// of its span starting on its phase, rows coarser than quarters only up to the watermark.
        #[test]
        fn runs_tile_the_ranges_exactly(
            // Anywhere in years 0000 to 9999, the instants a window may hold.
            start_quarter in -69_000_000i64..280_000_000,
            offset in proptest::prop_oneof![proptest::strategy::Just(0i64), 0..QUARTER_US],
            widths in proptest::collection::vec(
                proptest::prop_oneof![
                    (1i64..400).prop_map(|quarters| quarters * QUARTER_US),
                    1i64..300 * DAY_US,
                ],
                1..12,
            ),
            final_before in proptest::prop_oneof![
                proptest::strategy::Just(i64::MIN),
                proptest::strategy::Just(i64::MAX),
                (-69_000_000i64..280_000_000).prop_map(|quarter| quarter * QUARTER_US),
            ],
        ) {
            let mut edges = vec![start_quarter * QUARTER_US + offset];
            for width in widths {
                edges.push(edges[edges.len() - 1] + width);
            }
            let runs = plan(&edges, final_before);
            let mut at = edges[0];
            for run in &runs {
                proptest::prop_assert_eq!(run.from, at, "runs are contiguous: {:?}", runs);
                proptest::prop_assert!(run.from < run.to);
                if run.level != Level::Raw {
                    let span = run.level.span_us();
                    // Samples find their range by their instant; a rollup row by its start,
                    // so no row may hold an edge inside it.
                    proptest::prop_assert!(
                        edges.iter().all(|&edge| edge <= run.from || run.to <= edge
                            || (edge - run.from) % span == 0),
                        "a row of {:?} crosses an edge of {:?}", run, edges
                    );
                    proptest::prop_assert_eq!(run.from.rem_euclid(QUARTER_US), 0);
                    proptest::prop_assert_eq!(run.from.rem_euclid(span) / 1_000_000, i64::from(run.phase_s));
                    proptest::prop_assert_eq!((run.to - run.from) % span, 0);
                    // Rows coarser than a quarter end at or before the watermark.
                    proptest::prop_assert!(
                        run.level == Level::Quarter || run.to <= final_before,
                        "{:?} ends after the watermark {}", run, final_before
                    );
                }
                at = run.to;
            }
            proptest::prop_assert_eq!(at, edges[edges.len() - 1]);
        }
    }

    #[test]
    fn packs_start_a_pack_length_apart_on_their_rows_phase() {
        let check = |level: Level, start: i64, expected: Option<i64>| {
            assert_eq!(pack_start(level, start), expected, "{level:?} at {start}");
        };
        let h = |hours: i64| hours * HOUR_US;
        // Hours pack by the UTC day of their phase: 00:15 to 00:15 for Kathmandu's.
        check(Level::Hour, MIDNIGHT, Some(MIDNIGHT));
        check(Level::Hour, MIDNIGHT + h(23), Some(MIDNIGHT));
        check(Level::Hour, MIDNIGHT + h(24), Some(MIDNIGHT + DAY_US));
        check(
            Level::Hour,
            MIDNIGHT + QUARTER_US,
            Some(MIDNIGHT + QUARTER_US),
        );
        // 23:45 is on phase :45, whose pack began at 00:45 that UTC day.
        check(
            Level::Hour,
            MIDNIGHT - QUARTER_US,
            Some(MIDNIGHT - DAY_US + 3 * QUARTER_US),
        );
        // Days pack by 32 days from the epoch, on their phase; before the epoch too.
        check(Level::Day, 0, Some(0));
        check(Level::Day, 31 * DAY_US + h(4), Some(h(4)));
        check(Level::Day, 32 * DAY_US + h(4), Some(32 * DAY_US + h(4)));
        check(Level::Day, h(4) - DAY_US, Some(h(4) - 32 * DAY_US));
        // Other levels are not packed.
        for level in [Level::Raw, Level::Quarter, Level::Days8, Level::Days64] {
            check(level, MIDNIGHT, None);
        }
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
