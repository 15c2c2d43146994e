//! The words of every 400 about a usage request: which query parameter a domain error is
//! about, and what to tell the client. The core's errors carry data in the domain's terms;
//! this is where they become query parameters and advice.

use insights_core::{
    parse_rfc3339, Bound, Comparison, TimestampError, TooManyBuckets, TooMuchWork,
    UsageRequestError, Window, WindowError, WorkParam, MAX_BUCKETS, MAX_CELLS_PER_REQUEST, MAX_TOP,
};
use time::{Duration, OffsetDateTime};

/// A rejected parameter's name and what to tell the client; `error.rs` makes it a 400. (This
/// module depends on no other of the crate, so errors and extractors can both use it.)
pub(crate) type Invalid = (&'static str, String);

fn invalid(name: &'static str, message: String) -> Invalid {
    (name, message)
}

fn param(bound: Bound) -> &'static str {
    match bound {
        Bound::Start => "start",
        Bound::End => "end",
    }
}

/// The window of the `start` and `end` parameters (`None` when absent). `start` is checked
/// first, so a request with two bad bounds hears about `start`.
pub(crate) fn window(
    start: Option<&str>,
    end: Option<&str>,
    max: Duration,
) -> Result<Window, Invalid> {
    let start = bound(Bound::Start, start)?;
    let end = bound(Bound::End, end)?;
    Window::new(start, end, max).map_err(|error| window_error(&error))
}

fn bound(bound: Bound, text: Option<&str>) -> Result<OffsetDateTime, Invalid> {
    let name = param(bound);
    let text = text.ok_or_else(|| {
        invalid(
            name,
            format!("`{name}` is required: an RFC 3339 timestamp with an offset, for example 2024-04-01T00:00:00Z"),
        )
    })?;
    parse_rfc3339(&repair_plus(text))
        .map_err(|error: TimestampError| invalid(name, format!("`{name}` {error}")))
}

/// An unencoded `+` in a query string arrives as a space, so a space where a timestamp's
/// `+hh:mm` offset belongs is read as `+`. Only that position is repaired: a space between the
/// date and the time is RFC 3339's own.
fn repair_plus(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let offset = bytes.len().wrapping_sub(6);
    let looks_like_offset = bytes.len() > 6
        && bytes[offset] == b' '
        && bytes[offset + 1..offset + 3].iter().all(u8::is_ascii_digit)
        && bytes[offset + 3] == b':'
        && bytes[offset + 4..].iter().all(u8::is_ascii_digit);
    if looks_like_offset {
        let mut repaired = text.to_owned();
        repaired.replace_range(offset..offset + 1, "+");
        std::borrow::Cow::Owned(repaired)
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn window_error(error: &WindowError) -> Invalid {
    match error {
        WindowError::OutOfRange(bound) => invalid(
            param(*bound),
            format!(
                "`{}` falls outside years 0000 to 9999 in UTC",
                param(*bound)
            ),
        ),
        WindowError::EndNotAfterStart { start, end } => invalid(
            "end",
            format!(
                "`end` ({}) must be after `start` ({}); the window is half-open, [start, end)",
                insights_core::format_utc(*end),
                insights_core::format_utc(*start)
            ),
        ),
        WindowError::TooLong { length, max } => invalid(
            "end",
            format!(
                "the window from `start` to `end` is {}, longer than the maximum of {}",
                describe_duration(*length),
                describe_duration(*max)
            ),
        ),
    }
}

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

/// A usage request whose options do not go together.
pub(crate) fn usage_request_error(error: &UsageRequestError) -> Invalid {
    match error {
        UsageRequestError::ZoneWithoutBucket => invalid(
            "tz",
            "`tz` applies only with `bucket`; add a `bucket` or drop `tz`".to_owned(),
        ),
        UsageRequestError::TooManyBuckets(error) => invalid("bucket", too_many_buckets(error)),
        UsageRequestError::TopOutOfRange(top) => invalid(
            "top",
            format!("`top` must be from 1 to {MAX_TOP}, got {top}"),
        ),
        UsageRequestError::NoComparisonWindow(kind) => invalid(
            "compare",
            match kind {
                Comparison::Previous => "`compare=previous` would begin before year 0000; use a later window".to_owned(),
                Comparison::Year => "`compare=year` has no window a year earlier: it would begin before year 0000, or its local times fall in one clock change".to_owned(),
            },
        ),
    }
}

fn too_many_buckets(error: &TooManyBuckets) -> String {
    let advice = match error.suggestion {
        Some(coarser) => format!("use a coarser bucket such as `{coarser}`"),
        None => "use a shorter window".to_owned(),
    };
    format!(
        "`bucket={}` would make {} buckets over this window, more than the {MAX_BUCKETS} allowed; {advice}",
        error.width, error.count
    )
}

/// A request that would take more work than one answer may.
pub(crate) fn too_much_work(error: &TooMuchWork) -> Invalid {
    let name = match error.param {
        WorkParam::Bucket => "bucket",
        WorkParam::DemandInterval => "demand_interval",
        WorkParam::Baseload => "baseload",
    };
    let advice = match (error.suggestion, error.param) {
        (Some(coarser), _) => format!("use a coarser `demand_interval` such as `{coarser}`"),
        // The baseload's quarter hours are fixed; only less time or fewer circuits help.
        (None, WorkParam::Baseload) => "use a shorter window or a smaller entity".to_owned(),
        (None, _) => "use a shorter window, a coarser `bucket` or a smaller entity".to_owned(),
    };
    invalid(
        name,
        format!(
            "`{name}` over this window and these circuits needs {} figures (circuits × ranges), more than the {MAX_CELLS_PER_REQUEST} allowed; {advice}",
            error.cells
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use insights_core::DEFAULT_MAX_WINDOW;

    fn check(start: Option<&str>, end: Option<&str>, expected: Result<(&str, &str), &str>) {
        let actual = window(start, end, DEFAULT_MAX_WINDOW).map(|window| {
            (
                insights_core::format_utc(window.start()),
                insights_core::format_utc(window.end()),
            )
        });
        match (&actual, &expected) {
            (Ok(actual), Ok(expected)) => {
                assert_eq!((actual.0.as_str(), actual.1.as_str()), *expected)
            }
            (Err((name, reason)), Err(expected)) => {
                assert_eq!(format!("{name}: {reason}"), *expected)
            }
            _ => panic!("{start:?}..{end:?}: expected {expected:?}, got {actual:?}"),
        }
    }

    #[test]
    fn accepts_valid_windows_and_repairs_a_decoded_plus() {
        check(
            Some("2024-04-01T00:00:00Z"),
            Some("2024-04-02T00:00:00Z"),
            Ok(("2024-04-01T00:00:00Z", "2024-04-02T00:00:00Z")),
        );
        check(
            Some("2024-04-01T05:30:00 05:30"),
            Some("2024-04-01 01:00:00.5 01:00"),
            Ok(("2024-04-01T00:00:00Z", "2024-04-01T00:00:00.5Z")),
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
        // Only the offset's position is repaired; a space elsewhere is still a mistake.
        check(Some("2024-04-01T00:00:00 5:30"), Some("2024-04-02T00:00:00Z"), Err("start: `start` is not an RFC 3339 timestamp (expected `Z` or `±hh:mm` after the time); expected for example 2024-04-01T00:00:00Z"));
    }

    #[test]
    fn too_much_work_names_the_parameter_to_change() {
        let work = |param, suggestion| {
            too_much_work(&TooMuchWork {
                param,
                cells: 16_022_016,
                suggestion,
            })
        };
        assert_eq!(work(WorkParam::DemandInterval, Some("15m")), ("demand_interval", "`demand_interval` over this window and these circuits needs 16022016 figures (circuits × ranges), more than the 16000000 allowed; use a coarser `demand_interval` such as `15m`".to_owned()));
        assert_eq!(work(WorkParam::Bucket, None), ("bucket", "`bucket` over this window and these circuits needs 16022016 figures (circuits × ranges), more than the 16000000 allowed; use a shorter window, a coarser `bucket` or a smaller entity".to_owned()));
        assert_eq!(work(WorkParam::Baseload, None), ("baseload", "`baseload` over this window and these circuits needs 16022016 figures (circuits × ranges), more than the 16000000 allowed; use a shorter window or a smaller entity".to_owned()));
    }
}
