//! Time buckets and demand intervals: boundaries in local time of an IANA zone, clipped to
//! the window.
//!
//! A boundary is an instant whose local time is a whole multiple of the width since local
//! midnight (`1m` to `1h`), local midnight (`1d`), Monday's local midnight (`1w`), or local
//! midnight on the 1st (`1mo`). Where local midnight does not exist, the first instant of that
//! local date counts; where it happens twice, the first one counts. So a day bucket across a
//! DST change is 23 or 25 hours long, and hourly buckets in Asia/Kolkata start at :00 local.

use std::cmp::Ordering;
use std::fmt;

use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset, Weekday};
use time_tz::{Offset, OffsetResult, TimeZone, Tz};

use crate::window::Window;

/// The most buckets one answer may hold.
pub const MAX_BUCKETS: usize = 10_000;

/// A bucket width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BucketWidth {
    /// One minute.
    Minute,
    /// Five minutes.
    FiveMinutes,
    /// Fifteen minutes.
    FifteenMinutes,
    /// Thirty minutes.
    ThirtyMinutes,
    /// One hour.
    Hour,
    /// One local day.
    Day,
    /// One local week, from Monday.
    Week,
    /// One local calendar month.
    Month,
}

impl BucketWidth {
    /// Every width, finest first.
    pub const ALL: [BucketWidth; 8] = [
        BucketWidth::Minute,
        BucketWidth::FiveMinutes,
        BucketWidth::FifteenMinutes,
        BucketWidth::ThirtyMinutes,
        BucketWidth::Hour,
        BucketWidth::Day,
        BucketWidth::Week,
        BucketWidth::Month,
    ];

    /// The width's name in a query: `1m`, `5m`, `15m`, `30m`, `1h`, `1d`, `1w` or `1mo`.
    pub fn as_str(self) -> &'static str {
        match self {
            BucketWidth::Minute => "1m",
            BucketWidth::FiveMinutes => "5m",
            BucketWidth::FifteenMinutes => "15m",
            BucketWidth::ThirtyMinutes => "30m",
            BucketWidth::Hour => "1h",
            BucketWidth::Day => "1d",
            BucketWidth::Week => "1w",
            BucketWidth::Month => "1mo",
        }
    }

    /// Reads a width's name.
    pub fn parse(text: &str) -> Option<BucketWidth> {
        BucketWidth::ALL
            .into_iter()
            .find(|width| width.as_str() == text)
    }

    /// The fixed length of widths shorter than a day, which divide a day evenly.
    pub fn fixed(self) -> Option<Duration> {
        match self {
            BucketWidth::Minute => Some(Duration::minutes(1)),
            BucketWidth::FiveMinutes => Some(Duration::minutes(5)),
            BucketWidth::FifteenMinutes => Some(Duration::minutes(15)),
            BucketWidth::ThirtyMinutes => Some(Duration::minutes(30)),
            BucketWidth::Hour => Some(Duration::hours(1)),
            BucketWidth::Day | BucketWidth::Week | BucketWidth::Month => None,
        }
    }

    /// The shortest a bucket of this width can be, give or take a DST change; used to
    /// estimate counts before computing them.
    pub(crate) fn shortest(self) -> Duration {
        match self {
            BucketWidth::Day => Duration::hours(23),
            BucketWidth::Week => Duration::days(7) - Duration::hours(1),
            BucketWidth::Month => Duration::days(28) - Duration::hours(1),
            fixed => fixed.fixed().expect("sub-day widths are fixed"),
        }
    }
}

impl fmt::Display for BucketWidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The length of a demand interval: `5m`, `15m`, `30m` or `1h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DemandInterval(BucketWidth);

impl DemandInterval {
    /// The accepted names.
    pub const NAMES: [&'static str; 4] = ["5m", "15m", "30m", "1h"];

    /// Every interval, shortest first.
    pub const ALL: [DemandInterval; 4] = [
        DemandInterval(BucketWidth::FiveMinutes),
        DemandInterval(BucketWidth::FifteenMinutes),
        DemandInterval(BucketWidth::ThirtyMinutes),
        DemandInterval(BucketWidth::Hour),
    ];

    /// The interval's name in a query.
    pub fn name(self) -> &'static str {
        self.0.as_str()
    }

    /// The interval's length in seconds.
    pub fn seconds(self) -> i64 {
        self.0
            .fixed()
            .map_or(i64::MAX, |length| length.whole_seconds())
    }

    /// Reads an interval's name.
    pub fn parse(text: &str) -> Option<DemandInterval> {
        DemandInterval::NAMES
            .contains(&text)
            .then(|| BucketWidth::parse(text).map(DemandInterval))
            .flatten()
    }

    /// The interval as a bucket width, so it aligns as fixed buckets do.
    pub fn width(self) -> BucketWidth {
        self.0
    }
}

/// An IANA time zone, from the database compiled into the binary.
#[derive(Clone, Copy)]
pub struct Zone(&'static Tz);

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name() == other.name()
    }
}

impl Zone {
    /// UTC.
    pub fn utc() -> Zone {
        Zone(time_tz::timezones::db::UTC)
    }

    /// Looks a zone up by its IANA name, such as `America/New_York`.
    pub fn named(name: &str) -> Option<Zone> {
        time_tz::timezones::get_by_name(name).map(Zone)
    }

    /// Every zone of the compiled-in database.
    pub fn all() -> impl Iterator<Item = Zone> {
        time_tz::timezones::iter().map(Zone)
    }

    /// The zone's name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The local wall-clock time of an instant. Near the ends of the calendar the local time
    /// may fall outside years -9999 to 9999, which `time` cannot hold; it is clamped to the
    /// nearest end. So in a zone ahead of UTC the last hours of year 9999 have no boundary at
    /// local midnight of year 10000: their bucket runs on to the window's end.
    fn local(&self, instant: OffsetDateTime) -> PrimitiveDateTime {
        let offset = self.0.get_offset_utc(&instant).to_utc();
        match instant.checked_to_offset(offset) {
            Some(local) => PrimitiveDateTime::new(local.date(), local.time()),
            None if offset.is_negative() => PrimitiveDateTime::MIN,
            None => PrimitiveDateTime::MAX,
        }
    }

    /// The instants with this local time: none in a gap, two in an overlap, earliest first.
    /// (An iterator rather than a list: an hourly day asks for about a hundred, and their
    /// allocations were about a fifth of its buckets' cost.)
    fn instants(&self, local: PrimitiveDateTime) -> impl Iterator<Item = OffsetDateTime> {
        let at = |offset: UtcOffset| local.assume_offset(offset);
        let (first, second) = match self.0.get_offset_local(&local.assume_utc()) {
            OffsetResult::Some(offset) => (Some(at(offset.to_utc())), None),
            OffsetResult::Ambiguous(one, other) => {
                let (one, other) = (at(one.to_utc()), at(other.to_utc()));
                match one.cmp(&other) {
                    Ordering::Less => (Some(one), Some(other)),
                    Ordering::Greater => (Some(other), Some(one)),
                    Ordering::Equal => (Some(one), None),
                }
            }
            OffsetResult::None => (None, None),
        };
        first.into_iter().chain(second)
    }

    /// The first instant of a local date: its midnight, the earlier one if there are two,
    /// or, when midnight falls in a gap, the first instant whose local time is on that date.
    fn start_of_day(&self, date: Date) -> OffsetDateTime {
        self.first_at_or_after(date.midnight())
    }

    /// The first instant whose local time is `local` or later: `local` itself (the earlier
    /// of two in an overlap), or, when it falls in a gap, the gap's end.
    fn first_at_or_after(&self, local: PrimitiveDateTime) -> OffsetDateTime {
        if let Some(first) = self.instants(local).next() {
            return first;
        }
        // Local time runs forward across a gap, so search the seconds around it; zone
        // transitions happen on whole seconds.
        let guess = local.assume_utc().unix_timestamp();
        let at = |second: i64| {
            OffsetDateTime::from_unix_timestamp(second).unwrap_or(OffsetDateTime::UNIX_EPOCH)
        };
        let (mut low, mut high) = (guess - 26 * 3600, guess + 26 * 3600);
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if self.local(at(middle)) >= local {
                high = middle;
            } else {
                low = middle;
            }
        }
        at(high)
    }

    /// The instant with `instant`'s local date and time a year earlier in this zone: the
    /// same month, day and time of day, 29 February becoming 28 February; in a gap, the
    /// gap's end; in an overlap, the earlier instant. `None` before year 0000.
    pub fn year_earlier(&self, instant: OffsetDateTime) -> Option<OffsetDateTime> {
        let local = self.local(instant);
        let year = local.year().checked_sub(1).filter(|year| *year >= 0)?;
        let date = Date::from_calendar_date(year, local.month(), local.day())
            .or_else(|_| Date::from_calendar_date(year, local.month(), local.day() - 1))
            .ok()?;
        Some(self.first_at_or_after(PrimitiveDateTime::new(date, local.time())))
    }
}

/// Every boundary of `width` in `zone` from `from` to `to`, both included, in order.
pub fn boundaries(
    from: OffsetDateTime,
    to: OffsetDateTime,
    width: BucketWidth,
    zone: Zone,
) -> Vec<OffsetDateTime> {
    let first_date = zone.local(from).date().previous_day().unwrap_or(Date::MIN);
    let last_date = zone.local(to).date().next_day().unwrap_or(Date::MAX);
    let mut found = Vec::new();
    match width.fixed() {
        Some(step) => {
            let per_day = (Duration::DAY.whole_seconds() / step.whole_seconds()) as i32;
            for date in dates(first_date, last_date) {
                for index in 0..per_day {
                    let local = date.midnight() + step * index;
                    found.extend(zone.instants(local));
                }
            }
        }
        None => {
            for date in dates(first_date, last_date) {
                let starts_bucket = match width {
                    BucketWidth::Day => true,
                    BucketWidth::Week => date.weekday() == Weekday::Monday,
                    _ => date.day() == 1,
                };
                if starts_bucket {
                    found.push(zone.start_of_day(date));
                }
            }
        }
    }
    found.retain(|instant| from <= *instant && *instant <= to);
    found.sort();
    found.dedup();
    found
}

fn dates(first: Date, last: Date) -> impl Iterator<Item = Date> {
    std::iter::successors(Some(first), move |date| {
        date.next_day().filter(|next| *next <= last)
    })
}

/// One bucket of a window: `[start, end)`, clipped to the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// The later of the bucket's own start and the window's start.
    pub start: OffsetDateTime,
    /// The earlier of the bucket's own end and the window's end.
    pub end: OffsetDateTime,
    /// Whether either edge was clipped by the window.
    pub partial: bool,
}

impl Bucket {
    /// The bucket's length in nanoseconds.
    pub fn length_nanos(&self) -> i128 {
        (self.end - self.start).whole_nanoseconds()
    }
}

/// Why a window cannot be bucketed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooManyBuckets {
    /// The width asked for.
    pub width: BucketWidth,
    /// How many buckets it would make (an estimate when far over the limit).
    pub count: usize,
    /// The finest coarser width that fits, if any.
    pub suggestion: Option<BucketWidth>,
}

impl fmt::Display for TooManyBuckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "buckets of {} would make {} over this window, more than the {MAX_BUCKETS} allowed",
            self.width, self.count
        )?;
        match self.suggestion {
            Some(coarser) => write!(f, "; buckets of {coarser} fit"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for TooManyBuckets {}

/// Splits a window into buckets of `width` in `zone`, clipped to the window.
pub fn buckets(
    window: &Window,
    width: BucketWidth,
    zone: Zone,
) -> Result<Vec<Bucket>, TooManyBuckets> {
    let estimate = |width: BucketWidth| {
        (window.length_nanos() / width.shortest().whole_nanoseconds()) as usize + 1
    };
    let suggestion = || {
        BucketWidth::ALL
            .into_iter()
            .filter(|coarser| *coarser > width)
            .find(|coarser| estimate(*coarser) <= MAX_BUCKETS)
    };
    // Far over the limit, do not compute every boundary just to count them.
    let estimated = estimate(width);
    if estimated > 2 * MAX_BUCKETS {
        return Err(TooManyBuckets {
            width,
            count: estimated,
            suggestion: suggestion(),
        });
    }
    let inner = boundaries(window.start(), window.end(), width, zone);
    let starts_on_boundary = inner.first() == Some(&window.start());
    let ends_on_boundary = inner.last() == Some(&window.end());
    let mut edges = vec![window.start()];
    edges.extend(
        inner
            .into_iter()
            .filter(|instant| window.start() < *instant && *instant < window.end()),
    );
    edges.push(window.end());
    let count = edges.len() - 1;
    if count > MAX_BUCKETS {
        return Err(TooManyBuckets {
            width,
            count,
            suggestion: suggestion(),
        });
    }
    Ok(edges
        .windows(2)
        .enumerate()
        .map(|(index, pair)| Bucket {
            start: pair[0],
            end: pair[1],
            partial: (index == 0 && !starts_on_boundary)
                || (index == count - 1 && !ends_on_boundary),
        })
        .collect())
}

/// The demand-interval boundaries inside the window (edges included): consecutive pairs are
/// the whole intervals that fit.
pub fn demand_edges(window: &Window, interval: DemandInterval, zone: Zone) -> Vec<OffsetDateTime> {
    boundaries(window.start(), window.end(), interval.width(), zone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::{format_utc, parse_rfc3339};
    use crate::window::DEFAULT_MAX_WINDOW;

    fn window_of(start: &str, end: &str) -> Window {
        let instant = |text| parse_rfc3339(text).unwrap();
        Window::new(instant(start), instant(end), DEFAULT_MAX_WINDOW).unwrap()
    }

    fn check(window: (&str, &str), width: &str, zone: &str, expected: &[(&str, &str, bool)]) {
        let window = window_of(window.0, window.1);
        let buckets = buckets(
            &window,
            BucketWidth::parse(width).unwrap(),
            Zone::named(zone).unwrap(),
        )
        .unwrap();
        let actual: Vec<(String, String, bool)> = buckets
            .iter()
            .map(|bucket| {
                (
                    format_utc(bucket.start),
                    format_utc(bucket.end),
                    bucket.partial,
                )
            })
            .collect();
        let expected: Vec<(String, String, bool)> = expected
            .iter()
            .map(|(start, end, partial)| (start.to_string(), end.to_string(), *partial))
            .collect();
        assert_eq!(actual, expected, "{width} in {zone}");
    }

    #[test]
    fn hours_in_utc_with_partial_edges() {
        check(
            ("2024-04-01T00:30:00Z", "2024-04-01T03:00:00Z"),
            "1h",
            "UTC",
            &[
                ("2024-04-01T00:30:00Z", "2024-04-01T01:00:00Z", true),
                ("2024-04-01T01:00:00Z", "2024-04-01T02:00:00Z", false),
                ("2024-04-01T02:00:00Z", "2024-04-01T03:00:00Z", false),
            ],
        );
        check(
            ("2024-04-01T00:10:00Z", "2024-04-01T00:20:00Z"),
            "1h",
            "UTC",
            &[("2024-04-01T00:10:00Z", "2024-04-01T00:20:00Z", true)],
        );
    }

    #[test]
    fn hours_in_kolkata_and_kathmandu_start_at_local_whole_hours() {
        check(
            ("2024-04-01T00:00:00Z", "2024-04-01T02:00:00Z"),
            "1h",
            "Asia/Kolkata",
            &[
                ("2024-04-01T00:00:00Z", "2024-04-01T00:30:00Z", true),
                ("2024-04-01T00:30:00Z", "2024-04-01T01:30:00Z", false),
                ("2024-04-01T01:30:00Z", "2024-04-01T02:00:00Z", true),
            ],
        );
        check(
            ("2024-04-01T00:00:00Z", "2024-04-01T01:00:00Z"),
            "30m",
            "Asia/Kathmandu",
            &[
                ("2024-04-01T00:00:00Z", "2024-04-01T00:15:00Z", true),
                ("2024-04-01T00:15:00Z", "2024-04-01T00:45:00Z", false),
                ("2024-04-01T00:45:00Z", "2024-04-01T01:00:00Z", true),
            ],
        );
    }

    #[test]
    fn days_across_dst_are_23_and_25_hours() {
        check(
            ("2024-03-09T05:00:00Z", "2024-03-12T04:00:00Z"),
            "1d",
            "America/New_York",
            &[
                ("2024-03-09T05:00:00Z", "2024-03-10T05:00:00Z", false),
                ("2024-03-10T05:00:00Z", "2024-03-11T04:00:00Z", false),
                ("2024-03-11T04:00:00Z", "2024-03-12T04:00:00Z", false),
            ],
        );
        check(
            ("2024-10-26T22:00:00Z", "2024-10-28T23:00:00Z"),
            "1d",
            "Europe/Berlin",
            &[
                ("2024-10-26T22:00:00Z", "2024-10-27T23:00:00Z", false),
                ("2024-10-27T23:00:00Z", "2024-10-28T23:00:00Z", false),
            ],
        );
    }

    #[test]
    fn hours_across_dst_follow_local_time() {
        // Spring forward: 02:00 local does not exist, so 01:00 EST runs to 03:00 EDT.
        check(
            ("2024-03-10T05:00:00Z", "2024-03-10T09:00:00Z"),
            "1h",
            "America/New_York",
            &[
                ("2024-03-10T05:00:00Z", "2024-03-10T06:00:00Z", false),
                ("2024-03-10T06:00:00Z", "2024-03-10T07:00:00Z", false),
                ("2024-03-10T07:00:00Z", "2024-03-10T08:00:00Z", false),
                ("2024-03-10T08:00:00Z", "2024-03-10T09:00:00Z", false),
            ],
        );
        // Fall back: 01:00 local happens twice, and both are boundaries.
        check(
            ("2024-11-03T04:00:00Z", "2024-11-03T08:00:00Z"),
            "1h",
            "America/New_York",
            &[
                ("2024-11-03T04:00:00Z", "2024-11-03T05:00:00Z", false),
                ("2024-11-03T05:00:00Z", "2024-11-03T06:00:00Z", false),
                ("2024-11-03T06:00:00Z", "2024-11-03T07:00:00Z", false),
                ("2024-11-03T07:00:00Z", "2024-11-03T08:00:00Z", false),
            ],
        );
    }

    #[test]
    fn days_without_a_midnight_start_at_their_first_instant() {
        // Havana skips from 00:00 to 01:00 on 2024-03-10; Beirut on 2024-03-31.
        check(
            ("2024-03-09T05:00:00Z", "2024-03-11T04:00:00Z"),
            "1d",
            "America/Havana",
            &[
                ("2024-03-09T05:00:00Z", "2024-03-10T05:00:00Z", false),
                ("2024-03-10T05:00:00Z", "2024-03-11T04:00:00Z", false),
            ],
        );
        check(
            ("2024-03-29T22:00:00Z", "2024-04-01T21:00:00Z"),
            "1d",
            "Asia/Beirut",
            &[
                ("2024-03-29T22:00:00Z", "2024-03-30T22:00:00Z", false),
                // 31 March starts when 00:00 +02 becomes 01:00 +03, and is 23 hours long.
                ("2024-03-30T22:00:00Z", "2024-03-31T21:00:00Z", false),
                ("2024-03-31T21:00:00Z", "2024-04-01T21:00:00Z", false),
            ],
        );
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        check(
            ("2024-04-03T00:00:00Z", "2024-04-20T00:00:00Z"),
            "1w",
            "UTC",
            &[
                ("2024-04-03T00:00:00Z", "2024-04-08T00:00:00Z", true),
                ("2024-04-08T00:00:00Z", "2024-04-15T00:00:00Z", false),
                ("2024-04-15T00:00:00Z", "2024-04-20T00:00:00Z", true),
            ],
        );
        check(
            ("2024-01-15T00:00:00Z", "2024-04-01T04:00:00Z"),
            "1mo",
            "America/New_York",
            &[
                ("2024-01-15T00:00:00Z", "2024-02-01T05:00:00Z", true),
                ("2024-02-01T05:00:00Z", "2024-03-01T05:00:00Z", false),
                ("2024-03-01T05:00:00Z", "2024-04-01T04:00:00Z", false),
            ],
        );
    }

    #[test]
    fn too_many_buckets_suggests_a_coarser_width() {
        let window = window_of("2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z");
        let error = buckets(&window, BucketWidth::Minute, Zone::utc()).unwrap_err();
        assert_eq!(error.suggestion, Some(BucketWidth::Hour));
        assert_eq!(error.to_string(), "buckets of 1m would make 527041 over this window, more than the 10000 allowed; buckets of 1h fit");
        // Exactly at the limit is allowed; one more is not.
        let start = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        let at_limit =
            Window::new(start, start + Duration::minutes(10_000), DEFAULT_MAX_WINDOW).unwrap();
        assert_eq!(
            buckets(&at_limit, BucketWidth::Minute, Zone::utc())
                .unwrap()
                .len(),
            10_000
        );
        let over =
            Window::new(start, start + Duration::minutes(10_001), DEFAULT_MAX_WINDOW).unwrap();
        let error = buckets(&over, BucketWidth::Minute, Zone::utc()).unwrap_err();
        assert_eq!(
            (error.count, error.suggestion),
            (10_001, Some(BucketWidth::FiveMinutes))
        );
        // Partial minutes at both ends make 10,001 buckets of a window under 10,000 minutes
        // long; the suggestion is still coarser than the width asked for.
        let offset = start + Duration::seconds(30);
        let ragged = Window::new(
            offset,
            offset + Duration::minutes(9_999) + Duration::seconds(40),
            DEFAULT_MAX_WINDOW,
        )
        .unwrap();
        let error = buckets(&ragged, BucketWidth::Minute, Zone::utc()).unwrap_err();
        assert_eq!(
            (error.count, error.suggestion),
            (10_001, Some(BucketWidth::FiveMinutes))
        );
        // Up to twice the limit the buckets are counted exactly; beyond it, estimated.
        for (minutes, count) in [(19_999, 19_999), (20_000, 20_001)] {
            let window = Window::new(
                start,
                start + Duration::minutes(minutes),
                DEFAULT_MAX_WINDOW,
            )
            .unwrap();
            let error = buckets(&window, BucketWidth::Minute, Zone::utc()).unwrap_err();
            assert_eq!(error.count, count, "{minutes} minutes");
        }
    }

    #[test]
    fn the_calendars_last_day_buckets_in_utc_and_in_zones_ahead_of_it() {
        // The calendar's last day still has every hour.
        check(
            ("9999-12-31T21:00:00Z", "9999-12-31T23:59:59.999999999Z"),
            "1h",
            "UTC",
            &[
                ("9999-12-31T21:00:00Z", "9999-12-31T22:00:00Z", false),
                ("9999-12-31T22:00:00Z", "9999-12-31T23:00:00Z", false),
                (
                    "9999-12-31T23:00:00Z",
                    "9999-12-31T23:59:59.999999999Z",
                    true,
                ),
            ],
        );
        // Local time passes year 9999 at 10:00 UTC on its last day in Kiritimati (+14). The
        // boundaries before then are found; local midnight of year 10000 is past the
        // calendar, so the last bucket runs on to the window's end.
        check(
            ("9999-12-29T00:00:00Z", "9999-12-31T12:00:00Z"),
            "1d",
            "Pacific/Kiritimati",
            &[
                ("9999-12-29T00:00:00Z", "9999-12-29T10:00:00Z", true),
                ("9999-12-29T10:00:00Z", "9999-12-30T10:00:00Z", false),
                ("9999-12-30T10:00:00Z", "9999-12-31T12:00:00Z", true),
            ],
        );
    }

    #[test]
    fn suggestions_always_fit_when_asked_for() {
        // 10,050 weeks: weeks would make more than 10,000 buckets, so a month is suggested;
        // the estimate divides by the shortest week (a DST change makes it 167 hours).
        let start = parse_rfc3339("2000-01-03T00:00:00Z").unwrap();
        let weeks = Window::new(start, start + Duration::weeks(10_050), Duration::MAX).unwrap();
        let error = buckets(&weeks, BucketWidth::Day, Zone::utc()).unwrap_err();
        assert_eq!(error.suggestion, Some(BucketWidth::Month));
        assert!(buckets(&weeks, BucketWidth::Week, Zone::utc()).is_err());
        assert!(buckets(&weeks, BucketWidth::Month, Zone::utc()).is_ok());
        // 9,900 weeks fit as weeks, however the DST changes fall.
        let fewer = Window::new(start, start + Duration::weeks(9_900), Duration::MAX).unwrap();
        let error = buckets(&fewer, BucketWidth::Day, Zone::utc()).unwrap_err();
        assert_eq!(error.suggestion, Some(BucketWidth::Week));
        // The same for months: the estimate divides by the shortest month, 28 days less an
        // hour, so a window of 10,000 such months gets no suggestion at all.
        let months = Window::new(
            start,
            start + (Duration::days(28) - Duration::hours(1)) * 10_000,
            Duration::MAX,
        )
        .unwrap();
        let error = buckets(&months, BucketWidth::Week, Zone::utc()).unwrap_err();
        assert_eq!(error.suggestion, None);
    }

    #[test]
    fn demand_intervals_have_names_and_lengths() {
        let expected = [("5m", 300), ("15m", 900), ("30m", 1800), ("1h", 3600)];
        let actual: Vec<(&str, i64)> = DemandInterval::ALL
            .into_iter()
            .map(|interval| (interval.name(), interval.seconds()))
            .collect();
        assert_eq!(actual, expected);
        assert_eq!(
            DemandInterval::NAMES.to_vec(),
            expected.map(|(name, _)| name)
        );
    }

    #[test]
    fn zones_compare_and_print_by_name() {
        let kathmandu = Zone::named("Asia/Kathmandu").unwrap();
        assert_eq!(format!("{kathmandu:?}"), "Asia/Kathmandu");
        assert_eq!(kathmandu, Zone::named("Asia/Kathmandu").unwrap());
        assert_ne!(kathmandu, Zone::utc());
        assert!(Zone::all().any(|zone| zone == kathmandu));
    }

    #[test]
    fn names_parse_both_ways() {
        for width in BucketWidth::ALL {
            assert_eq!(BucketWidth::parse(width.as_str()), Some(width));
        }
        assert_eq!(BucketWidth::parse("2h"), None);
        assert_eq!(
            DemandInterval::parse("1h").map(DemandInterval::width),
            Some(BucketWidth::Hour)
        );
        assert_eq!(DemandInterval::parse("1d"), None);
        assert!(Zone::named("Mars/Olympus").is_none());
        assert_eq!(
            Zone::named("Asia/Kathmandu").map(|zone| zone.name()),
            Some("Asia/Kathmandu")
        );
    }
}

#[cfg(test)]
mod year_earlier_tests {
    use super::*;
    use crate::parse_rfc3339;

    fn check(zone: &str, instant: &str, expected: Option<&str>) {
        let zone = Zone::named(zone).unwrap();
        let actual = zone.year_earlier(parse_rfc3339(instant).unwrap());
        assert_eq!(
            actual,
            expected.map(|text| parse_rfc3339(text).unwrap()),
            "{instant} in {zone:?}"
        );
    }

    #[test]
    fn a_year_earlier_keeps_local_dates_and_times() {
        check("UTC", "2025-04-01T00:00:00Z", Some("2024-04-01T00:00:00Z"));
        check("UTC", "2025-03-01T00:00:00Z", Some("2024-03-01T00:00:00Z"));
        // 29 February has no counterpart: it becomes 28 February.
        check(
            "UTC",
            "2024-02-29T12:00:00.5Z",
            Some("2023-02-28T12:00:00.5Z"),
        );
        // New York: midnight stays midnight across the offsets (EDT then, EST a year before).
        check(
            "America/New_York",
            "2025-03-10T04:00:00Z",
            Some("2024-03-10T05:00:00Z"),
        );
        check(
            "America/New_York",
            "2025-03-09T08:30:00Z",
            Some("2024-03-09T09:30:00Z"),
        );
        // 02:30 on 2025-03-10 is in 2024's gap (clocks went from 02:00 to 03:00 on
        // 2024-03-10): it becomes the gap's end, 03:00 EDT.
        check(
            "America/New_York",
            "2025-03-10T06:30:00Z",
            Some("2024-03-10T07:00:00Z"),
        );
        // An overlap's earlier instant: 01:30 on 2024-11-03 happens twice.
        check(
            "America/New_York",
            "2025-11-03T06:30:00Z",
            Some("2024-11-03T05:30:00Z"),
        );
        check("UTC", "0000-06-01T00:00:00Z", None);
    }

    #[test]
    fn local_times_past_the_calendar_have_no_year_earlier_within_it() {
        // Local time in a zone behind UTC falls before year -9999 here; it is clamped to
        // the calendar's start, which has no year before it, not to its end.
        let behind = Zone::named("Etc/GMT+12").unwrap();
        let first = time::macros::datetime!(-9999-01-01 00:00 UTC);
        assert_eq!(behind.year_earlier(first), None);
        // Ahead of UTC, the last instants pass year 9999 and clamp to its end.
        let ahead = Zone::named("Pacific/Kiritimati").unwrap();
        let last = time::macros::datetime!(9999-12-31 23:00 UTC);
        assert_eq!(
            ahead.year_earlier(last),
            Some(time::macros::datetime!(9998-12-31 09:59:59.999999999 UTC)),
        );
    }
}
