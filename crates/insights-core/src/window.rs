//! The query window: a validated half-open interval `[start, end)` at nanosecond precision.

use std::fmt;

use time::{Duration, OffsetDateTime, UtcOffset};

use crate::timestamp::{format_utc, in_supported_range, parse_rfc3339, TimestampError};

/// The longest window accepted unless configured otherwise: 366 days, so a leap year fits.
pub const DEFAULT_MAX_WINDOW: Duration = Duration::days(366);

/// Which bound of a window an error is about; its name is the query parameter's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// The inclusive start, query parameter `start`.
    Start,
    /// The exclusive end, query parameter `end`.
    End,
}

impl Bound {
    /// The query parameter that carries this bound.
    pub fn param(self) -> &'static str {
        match self {
            Bound::Start => "start",
            Bound::End => "end",
        }
    }
}

/// Why a window was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowError {
    /// A bound was not given.
    Missing(Bound),
    /// A bound is not an RFC 3339 timestamp.
    Unparsable {
        /// The bound that failed to parse.
        bound: Bound,
        /// Why it failed.
        error: TimestampError,
    },
    /// A bound is a date and time without a UTC offset.
    NoOffset(Bound),
    /// `end` is not after `start`, so the window would be empty or reversed.
    EndNotAfterStart {
        /// The start as given.
        start: OffsetDateTime,
        /// The end as given.
        end: OffsetDateTime,
    },
    /// A bound lies outside years 0000 to 9999 in UTC (only instants given as values can;
    /// parsing refuses such text already).
    OutOfRange(Bound),
    /// The window is longer than the configured maximum.
    TooLong {
        /// The window's length.
        length: Duration,
        /// The longest length accepted.
        max: Duration,
    },
}

impl WindowError {
    /// The query parameter the error is about.
    pub fn param(&self) -> &'static str {
        match self {
            WindowError::Missing(bound)
            | WindowError::Unparsable { bound, .. }
            | WindowError::NoOffset(bound)
            | WindowError::OutOfRange(bound) => bound.param(),
            WindowError::EndNotAfterStart { .. } | WindowError::TooLong { .. } => {
                Bound::End.param()
            }
        }
    }
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowError::Missing(bound) => write!(
                f,
                "`{}` is required: an RFC 3339 timestamp with an offset, for example 2024-04-01T00:00:00Z",
                bound.param()
            ),
            WindowError::Unparsable { bound, error } => write!(f, "`{}` {error}", bound.param()),
            WindowError::NoOffset(bound) => {
                write!(f, "`{}` {}", bound.param(), TimestampError::NoOffset)
            }
            WindowError::OutOfRange(bound) => write!(
                f,
                "`{}` falls outside years 0000 to 9999 in UTC",
                bound.param()
            ),
            WindowError::EndNotAfterStart { start, end } => write!(
                f,
                "`end` ({}) must be after `start` ({}); the window is half-open, [start, end)",
                format_utc(*end),
                format_utc(*start)
            ),
            WindowError::TooLong { length, max } => write!(
                f,
                "the window from `start` to `end` is {}, longer than the maximum of {}",
                describe_duration(*length),
                describe_duration(*max)
            ),
        }
    }
}

impl std::error::Error for WindowError {}

fn describe_duration(length: Duration) -> String {
    let days = length.whole_days();
    let rest = length - Duration::days(days);
    if rest.is_zero() {
        format!("{days} days")
    } else {
        let seconds = rest.whole_seconds();
        let nanoseconds = rest.subsec_nanoseconds();
        if nanoseconds == 0 {
            format!("{days} days {seconds} s")
        } else {
            format!("{days} days {seconds}.{nanoseconds:09} s")
        }
    }
}

/// A half-open interval `[start, end)` of instants with `start < end`, no longer than a maximum.
///
/// A sample at `t` belongs to the window when `start <= t < end`. Both bounds are kept in UTC
/// at full nanosecond precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    start: OffsetDateTime,
    end: OffsetDateTime,
}

impl Window {
    /// Checks two instants and makes a window of them.
    pub fn new(
        start: OffsetDateTime,
        end: OffsetDateTime,
        max: Duration,
    ) -> Result<Window, WindowError> {
        if !in_supported_range(start) {
            return Err(WindowError::OutOfRange(Bound::Start));
        }
        if !in_supported_range(end) {
            return Err(WindowError::OutOfRange(Bound::End));
        }
        if end <= start {
            return Err(WindowError::EndNotAfterStart { start, end });
        }
        let length = end - start;
        if length > max {
            return Err(WindowError::TooLong { length, max });
        }
        Ok(Window {
            start: start.to_offset(UtcOffset::UTC),
            end: end.to_offset(UtcOffset::UTC),
        })
    }

    /// Parses and checks the `start` and `end` query parameters; `None` means the parameter was absent.
    ///
    /// `start` is checked first, so a request with two bad bounds hears about `start`.
    pub fn parse(
        start: Option<&str>,
        end: Option<&str>,
        max: Duration,
    ) -> Result<Window, WindowError> {
        let start = parse_bound(Bound::Start, start)?;
        let end = parse_bound(Bound::End, end)?;
        Window::new(start, end, max)
    }

    /// The inclusive start, in UTC.
    pub fn start(&self) -> OffsetDateTime {
        self.start
    }

    /// The exclusive end, in UTC.
    pub fn end(&self) -> OffsetDateTime {
        self.end
    }

    /// The start in nanoseconds since the Unix epoch.
    pub fn start_nanos(&self) -> i128 {
        self.start.unix_timestamp_nanos()
    }

    /// The end in nanoseconds since the Unix epoch.
    pub fn end_nanos(&self) -> i128 {
        self.end.unix_timestamp_nanos()
    }

    /// The window's length in nanoseconds, always positive.
    pub fn length_nanos(&self) -> i128 {
        self.end_nanos() - self.start_nanos()
    }

    /// Splits the window at an instant strictly inside it into `[start, at)` and `[at, end)`.
    ///
    /// Returns `None` when `at` is not strictly inside.
    pub fn split_at(&self, at: OffsetDateTime) -> Option<(Window, Window)> {
        if at <= self.start || at >= self.end {
            return None;
        }
        let at = at.to_offset(UtcOffset::UTC);
        Some((
            Window {
                start: self.start,
                end: at,
            },
            Window {
                start: at,
                end: self.end,
            },
        ))
    }
}

fn parse_bound(bound: Bound, text: Option<&str>) -> Result<OffsetDateTime, WindowError> {
    let text = text.ok_or(WindowError::Missing(bound))?;
    parse_rfc3339(text).map_err(|error| match error {
        TimestampError::NoOffset => WindowError::NoOffset(bound),
        error => WindowError::Unparsable { bound, error },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(start: Option<&str>, end: Option<&str>, expected: Result<(&str, &str), &str>) {
        let actual = Window::parse(start, end, DEFAULT_MAX_WINDOW)
            .map(|window| (format_utc(window.start()), format_utc(window.end())));
        match (&actual, &expected) {
            (Ok(actual), Ok(expected)) => {
                assert_eq!((actual.0.as_str(), actual.1.as_str()), *expected)
            }
            (Err(error), Err(expected)) => {
                assert_eq!(format!("{}: {error}", error.param()), *expected)
            }
            _ => panic!("{start:?}..{end:?}: expected {expected:?}, got {actual:?}"),
        }
    }

    #[test]
    fn accepts_valid_windows() {
        check(
            Some("2024-04-01T00:00:00Z"),
            Some("2024-04-02T00:00:00Z"),
            Ok(("2024-04-01T00:00:00Z", "2024-04-02T00:00:00Z")),
        );
        check(
            Some("2024-04-01T00:00:00Z"),
            Some("2024-04-01T00:00:00.000000001Z"),
            Ok(("2024-04-01T00:00:00Z", "2024-04-01T00:00:00.000000001Z")),
        );
        // Exactly 366 days is the longest accepted window.
        check(
            Some("2024-01-01T00:00:00Z"),
            Some("2025-01-01T00:00:00Z"),
            Ok(("2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z")),
        );
    }

    #[test]
    fn rejects_invalid_windows_naming_the_parameter() {
        check(None, Some("2024-04-01T00:00:00Z"), Err("start: `start` is required: an RFC 3339 timestamp with an offset, for example 2024-04-01T00:00:00Z"));
        check(Some("2024-04-01T00:00:00Z"), None, Err("end: `end` is required: an RFC 3339 timestamp with an offset, for example 2024-04-01T00:00:00Z"));
        check(Some("yesterday"), Some("2024-04-01T00:00:00Z"), Err("start: `start` is not an RFC 3339 timestamp (the year needs four digits); expected for example 2024-04-01T00:00:00Z"));
        check(Some("2024-04-01T00:00:00Z"), Some("2024-04-02T00:00:00"), Err("end: `end` has no UTC offset; add `Z` or `±hh:mm`, for example 2024-04-01T00:00:00Z"));
        check(Some("2024-04-02T00:00:00Z"), Some("2024-04-01T00:00:00Z"), Err("end: `end` (2024-04-01T00:00:00Z) must be after `start` (2024-04-02T00:00:00Z); the window is half-open, [start, end)"));
        // The same instant written with two offsets is an empty window.
        check(Some("2024-04-01T05:30:00+05:30"), Some("2024-04-01T01:00:00+01:00"), Err("end: `end` (2024-04-01T00:00:00Z) must be after `start` (2024-04-01T00:00:00Z); the window is half-open, [start, end)"));
        check(Some("2024-01-01T00:00:00Z"), Some("2025-01-01T00:00:00.000000001Z"), Err("end: the window from `start` to `end` is 366 days 0.000000001 s, longer than the maximum of 366 days"));
        check(Some("2020-01-01T00:00:00Z"), Some("2025-01-01T00:00:00Z"), Err("end: the window from `start` to `end` is 1827 days, longer than the maximum of 366 days"));
    }
}
