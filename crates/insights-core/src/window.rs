//! The query window: a validated half-open interval `[start, end)` at nanosecond precision.

use std::fmt;

use time::{Duration, OffsetDateTime, UtcOffset};

use crate::timestamp::{format_utc, in_supported_range};

/// The longest window accepted unless configured otherwise: 366 days, so a leap year fits.
pub const DEFAULT_MAX_WINDOW: Duration = Duration::days(366);

/// Which bound of a window an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// The inclusive start.
    Start,
    /// The exclusive end.
    End,
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bound::Start => "start",
            Bound::End => "end",
        })
    }
}

/// Why two instants do not make a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowError {
    /// The end is not after the start, so the window would be empty or reversed.
    EndNotAfterStart {
        /// The start as given.
        start: OffsetDateTime,
        /// The end as given.
        end: OffsetDateTime,
    },
    /// A bound lies outside years 0000 to 9999 in UTC.
    OutOfRange(Bound),
    /// The window is longer than the maximum.
    TooLong {
        /// The window's length.
        length: Duration,
        /// The longest length accepted.
        max: Duration,
    },
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowError::EndNotAfterStart { start, end } => write!(
                f,
                "the end ({}) is not after the start ({})",
                format_utc(*end),
                format_utc(*start)
            ),
            WindowError::OutOfRange(bound) => {
                write!(f, "the {bound} falls outside years 0000 to 9999 in UTC")
            }
            WindowError::TooLong { length, max } => {
                write!(
                    f,
                    "the window is {length} long, more than the maximum of {max}"
                )
            }
        }
    }
}

impl std::error::Error for WindowError {}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_rfc3339;

    fn check(start: &str, end: &str, expected: Result<(&str, &str), &str>) {
        let instant = |text: &str| parse_rfc3339(text).unwrap();
        let actual = Window::new(instant(start), instant(end), DEFAULT_MAX_WINDOW)
            .map(|window| (format_utc(window.start()), format_utc(window.end())))
            .map_err(|error| error.to_string());
        let expected = expected
            .map(|(start, end)| (start.to_owned(), end.to_owned()))
            .map_err(str::to_owned);
        assert_eq!(actual, expected, "{start}..{end}");
    }

    #[test]
    fn accepts_valid_windows() {
        check(
            "2024-04-01T00:00:00Z",
            "2024-04-02T00:00:00Z",
            Ok(("2024-04-01T00:00:00Z", "2024-04-02T00:00:00Z")),
        );
        check(
            "2024-04-01T00:00:00Z",
            "2024-04-01T00:00:00.000000001Z",
            Ok(("2024-04-01T00:00:00Z", "2024-04-01T00:00:00.000000001Z")),
        );
        // Exactly 366 days is the longest accepted window.
        check(
            "2024-01-01T00:00:00Z",
            "2025-01-01T00:00:00Z",
            Ok(("2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z")),
        );
    }

    fn check_split(at: &str, expected: Option<[(&str, &str); 2]>) {
        let instant = |text: &str| parse_rfc3339(text).unwrap();
        let window = Window::new(
            instant("2024-04-01T00:00:00Z"),
            instant("2024-04-02T00:00:00Z"),
            DEFAULT_MAX_WINDOW,
        )
        .unwrap();
        let text = |window: Window| (format_utc(window.start()), format_utc(window.end()));
        let actual = window
            .split_at(instant(at))
            .map(|(left, right)| [text(left), text(right)]);
        let expected =
            expected.map(|halves| halves.map(|(start, end)| (start.to_owned(), end.to_owned())));
        assert_eq!(actual, expected, "split at {at}");
    }

    #[test]
    fn splits_only_strictly_inside() {
        check_split(
            "2024-04-01T13:30:00+01:00",
            Some([
                ("2024-04-01T00:00:00Z", "2024-04-01T12:30:00Z"),
                ("2024-04-01T12:30:00Z", "2024-04-02T00:00:00Z"),
            ]),
        );
        check_split(
            "2024-04-01T00:00:00.000000001Z",
            Some([
                ("2024-04-01T00:00:00Z", "2024-04-01T00:00:00.000000001Z"),
                ("2024-04-01T00:00:00.000000001Z", "2024-04-02T00:00:00Z"),
            ]),
        );
        check_split("2024-04-01T00:00:00Z", None);
        check_split("2024-04-02T00:00:00Z", None);
        check_split("2024-03-31T00:00:00Z", None);
        check_split("2024-04-03T00:00:00Z", None);
    }

    #[test]
    fn rejects_windows_that_are_empty_reversed_or_too_long() {
        check(
            "2024-04-02T00:00:00Z",
            "2024-04-01T00:00:00Z",
            Err("the end (2024-04-01T00:00:00Z) is not after the start (2024-04-02T00:00:00Z)"),
        );
        // The same instant written with two offsets is an empty window.
        check(
            "2024-04-01T05:30:00+05:30",
            "2024-04-01T01:00:00+01:00",
            Err("the end (2024-04-01T00:00:00Z) is not after the start (2024-04-01T00:00:00Z)"),
        );
        check(
            "2024-01-01T00:00:00Z",
            "2025-01-01T00:00:00.000000001Z",
            Err("the window is 366d1ns long, more than the maximum of 366d"),
        );
    }
}
