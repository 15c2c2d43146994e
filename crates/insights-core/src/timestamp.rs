//! RFC 3339 timestamps at nanosecond precision: a strict parser that tells a missing offset
//! apart from other mistakes, and a formatter that writes UTC with `Z`.

use std::fmt;

use time::{Date, Month, OffsetDateTime, Time, UtcOffset};

/// Why a text is not an RFC 3339 timestamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimestampError {
    /// The text is empty.
    Empty,
    /// A well-formed date and time without `Z` or `±hh:mm`, which would leave the instant ambiguous.
    NoOffset,
    /// More than nine fraction digits: finer than a nanosecond, so precision would be lost.
    TooPrecise {
        /// How many fraction digits the text has.
        digits: usize,
    },
    /// The text does not have the RFC 3339 shape, or a field is out of range.
    Malformed {
        /// What is wrong, in a few words.
        reason: &'static str,
    },
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimestampError::Empty => f.write_str("is empty; expected an RFC 3339 timestamp"),
            TimestampError::NoOffset => f.write_str(
                "has no UTC offset; add `Z` or `±hh:mm`, for example 2024-04-01T00:00:00Z",
            ),
            TimestampError::TooPrecise { digits } => write!(
                f,
                "has {digits} fraction digits; at most 9 (nanoseconds) are supported"
            ),
            TimestampError::Malformed { reason } => write!(
                f,
                "is not an RFC 3339 timestamp ({reason}); expected for example 2024-04-01T00:00:00Z"
            ),
        }
    }
}

impl std::error::Error for TimestampError {}

const fn malformed(reason: &'static str) -> TimestampError {
    TimestampError::Malformed { reason }
}

/// Parses an RFC 3339 timestamp such as `2024-04-01T12:30:00.000000001+05:30`.
///
/// The date and time may be separated by `T`, `t` or a space, and the offset is `Z`, `z` or
/// `±hh:mm`. Leap seconds (`:60`) are rejected.
///
/// The `time` crate parses RFC 3339 too, but its errors do not tell a missing offset from
/// other mistakes, nor say which field is wrong, and clients need to hear exactly that.
pub fn parse_rfc3339(text: &str) -> Result<OffsetDateTime, TimestampError> {
    if text.is_empty() {
        return Err(TimestampError::Empty);
    }
    let bytes = text.as_bytes();
    let mut cursor = Cursor { bytes, pos: 0 };
    let year = cursor.digits(4, "the year needs four digits")?;
    cursor.expect(b'-', "expected `-` after the year")?;
    let month = cursor.digits(2, "the month needs two digits")?;
    cursor.expect(b'-', "expected `-` after the month")?;
    let day = cursor.digits(2, "the day needs two digits")?;
    match cursor.next() {
        Some(b'T' | b't' | b' ') => {}
        None => return Err(malformed("the time of day is missing")),
        Some(_) => return Err(malformed("expected `T` between the date and the time")),
    }
    let hour = cursor.digits(2, "the hour needs two digits")?;
    cursor.expect(b':', "expected `:` after the hour")?;
    let minute = cursor.digits(2, "the minute needs two digits")?;
    cursor.expect(b':', "expected `:` after the minute")?;
    let second = cursor.digits(2, "the second needs two digits")?;
    let mut nanosecond = 0u32;
    if cursor.peek() == Some(b'.') {
        cursor.pos += 1;
        let first = cursor.pos;
        while matches!(cursor.peek(), Some(b'0'..=b'9')) {
            cursor.pos += 1;
        }
        let digits = cursor.pos - first;
        if digits == 0 {
            return Err(malformed("expected digits after the decimal point"));
        }
        if digits > 9 {
            return Err(TimestampError::TooPrecise { digits });
        }
        let fraction: u32 = text[first..cursor.pos].parse().expect("only ASCII digits");
        nanosecond = fraction * 10u32.pow(9 - digits as u32);
    }
    let offset_seconds = match cursor.next() {
        None => return Err(TimestampError::NoOffset),
        Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let hours = cursor.digits(2, "the offset hour needs two digits")?;
            cursor.expect(b':', "expected `:` in the UTC offset")?;
            let minutes = cursor.digits(2, "the offset minute needs two digits")?;
            if hours > 23 || minutes > 59 {
                return Err(malformed("the UTC offset is out of range"));
            }
            let magnitude = (hours * 3600 + minutes * 60) as i32;
            if sign == b'-' {
                -magnitude
            } else {
                magnitude
            }
        }
        Some(_) => return Err(malformed("expected `Z` or `±hh:mm` after the time")),
    };
    if cursor.pos != bytes.len() {
        return Err(malformed("unexpected text after the UTC offset"));
    }
    if second == 60 {
        return Err(malformed("leap seconds are not supported"));
    }
    let month = u8::try_from(month)
        .ok()
        .and_then(|month| Month::try_from(month).ok())
        .ok_or(malformed("the month is out of range"))?;
    let date = Date::from_calendar_date(year as i32, month, day as u8)
        .map_err(|_| malformed("the day does not exist in that month"))?;
    let time = Time::from_hms_nano(hour as u8, minute as u8, second as u8, nanosecond)
        .map_err(|_| malformed("the time of day is out of range"))?;
    let offset = UtcOffset::from_whole_seconds(offset_seconds)
        .map_err(|_| malformed("the UTC offset is out of range"))?;
    let instant = date.with_time(time).assume_offset(offset);
    if !in_supported_range(instant) {
        return Err(malformed(OUT_OF_RANGE));
    }
    Ok(instant)
}

/// Why an instant is refused when it is outside [`in_supported_range`].
const OUT_OF_RANGE: &str = "it falls outside years 0000 to 9999 in UTC";

/// Whether an instant lies in years 0000 to 9999 when written in UTC, the range every
/// answer can be written in as RFC 3339 with `Z`. A local time such as
/// `9999-12-31T23:30:00-05:00` is already in year 10000 in UTC, and `0000-01-01T00:00:00+01:00`
/// in year -1.
pub fn in_supported_range(instant: OffsetDateTime) -> bool {
    instant
        .checked_to_offset(UtcOffset::UTC)
        .is_some_and(|utc| (0..=9999).contains(&utc.year()))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn expect(&mut self, wanted: u8, reason: &'static str) -> Result<(), TimestampError> {
        match self.next() {
            Some(byte) if byte == wanted => Ok(()),
            _ => Err(malformed(reason)),
        }
    }

    fn digits(&mut self, count: usize, reason: &'static str) -> Result<u32, TimestampError> {
        let mut value = 0u32;
        for _ in 0..count {
            match self.next() {
                Some(digit @ b'0'..=b'9') => value = value * 10 + u32::from(digit - b'0'),
                _ => return Err(malformed(reason)),
            }
        }
        Ok(value)
    }
}

/// Formats an instant as RFC 3339 in UTC with `Z`, keeping every significant fraction digit.
///
/// Trailing zeros of the fraction are dropped, so whole seconds print without a fraction.
/// An instant outside [`in_supported_range`] (which no validated window holds, but a library
/// caller may pass) is written with its own offset instead, which is still RFC 3339.
pub fn format_utc(instant: OffsetDateTime) -> String {
    match instant.checked_to_offset(UtcOffset::UTC) {
        Some(utc) if (0..=9999).contains(&utc.year()) => format_supported_utc(utc),
        _ => format_with_own_offset(instant),
    }
}

/// [`format_utc`] of an instant in UTC in years 0000 to 9999, written digit by digit: answers
/// hold one or two instants a bucket, thousands of them, and the formatting machinery of
/// `format!` costs several times as much.
fn format_supported_utc(utc: OffsetDateTime) -> String {
    let mut text = String::with_capacity("0000-00-00T00:00:00.000000000Z".len());
    let year = utc.year().unsigned_abs();
    push_digits(&mut text, year / 100, 2);
    push_digits(&mut text, year % 100, 2);
    text.push('-');
    push_digits(&mut text, u32::from(u8::from(utc.month())), 2);
    text.push('-');
    push_digits(&mut text, u32::from(utc.day()), 2);
    text.push('T');
    push_digits(&mut text, u32::from(utc.hour()), 2);
    text.push(':');
    push_digits(&mut text, u32::from(utc.minute()), 2);
    text.push(':');
    push_digits(&mut text, u32::from(utc.second()), 2);
    push_fraction(&mut text, utc.nanosecond());
    text.push('Z');
    text
}

/// [`format_utc`] of an instant it cannot write in UTC: with the instant's own offset.
fn format_with_own_offset(local: OffsetDateTime) -> String {
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    );
    push_fraction(&mut text, local.nanosecond());
    let offset = local.offset();
    let (hours, minutes, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    text.push_str(&format!(
        "{sign}{:02}:{:02}",
        hours.unsigned_abs(),
        minutes.unsigned_abs()
    ));
    text
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(text: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10u32.pow(place) % 10;
        text.push(char::from(b'0' + digit as u8));
    }
}

/// Appends `.` and the fraction of a second, without trailing zeros; nothing for none.
fn push_fraction(text: &mut String, nanosecond: u32) {
    if nanosecond == 0 {
        return;
    }
    let mut digits = 9;
    let mut significant = nanosecond;
    while significant.is_multiple_of(10) {
        significant /= 10;
        digits -= 1;
    }
    text.push('.');
    push_digits(text, significant, digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&str, TimestampError>) {
        let actual = parse_rfc3339(input).map(format_utc);
        assert_eq!(
            actual.as_deref().map_err(Clone::clone),
            expected,
            "input: {input:?}"
        );
    }

    #[test]
    fn parses_and_normalises_to_utc() {
        check("2024-04-01T00:00:00Z", Ok("2024-04-01T00:00:00Z"));
        check("2024-04-01t00:00:00z", Ok("2024-04-01T00:00:00Z"));
        check("2024-04-01 00:00:00Z", Ok("2024-04-01T00:00:00Z"));
        check("2024-04-01T02:00:00+02:00", Ok("2024-04-01T00:00:00Z"));
        // A space is no offset sign; the HTTP layer repairs a form-decoded `+` itself.
        check(
            "2024-04-01T02:00:00 02:00",
            Err(malformed("expected `Z` or `±hh:mm` after the time")),
        );
        check("2024-03-31T19:00:00-05:00", Ok("2024-04-01T00:00:00Z"));
        check("2024-04-01T05:45:00+05:45", Ok("2024-04-01T00:00:00Z"));
        check("2024-04-01T00:00:00.5Z", Ok("2024-04-01T00:00:00.5Z"));
        check(
            "2024-04-01T00:00:00.000000001Z",
            Ok("2024-04-01T00:00:00.000000001Z"),
        );
        check(
            "2024-04-01T00:00:00.120000000Z",
            Ok("2024-04-01T00:00:00.12Z"),
        );
        check(
            "2024-02-29T23:59:59.999999999+00:00",
            Ok("2024-02-29T23:59:59.999999999Z"),
        );
        check("0001-01-01T00:00:00Z", Ok("0001-01-01T00:00:00Z"));
        check("0000-01-01T00:00:00Z", Ok("0000-01-01T00:00:00Z"));
        check("0000-01-01T00:00:00-23:59", Ok("0000-01-01T23:59:00Z"));
        check(
            "9999-12-31T23:59:59.999999999Z",
            Ok("9999-12-31T23:59:59.999999999Z"),
        );
        check("9999-12-31T23:30:00+05:00", Ok("9999-12-31T18:30:00Z"));
    }

    #[test]
    fn rejects_instants_outside_years_0000_to_9999_in_utc() {
        check("9999-12-31T23:30:00-05:00", Err(malformed(OUT_OF_RANGE)));
        check(
            "9999-12-31T23:59:59.999999999-00:01",
            Err(malformed(OUT_OF_RANGE)),
        );
        check("0000-01-01T00:00:00+23:59", Err(malformed(OUT_OF_RANGE)));
        check("0000-01-01T00:00:00+00:01", Err(malformed(OUT_OF_RANGE)));
    }

    proptest::proptest! {
        /// Written digit by digit, every instant of the supported range reads as `time`'s own
        /// RFC 3339, which also drops the fraction's trailing zeros.
        #[test]
        fn formats_supported_instants_as_time_does(
            nanos in time::macros::datetime!(0000-01-01 00:00 UTC).unix_timestamp_nanos()
                ..=time::macros::datetime!(9999-12-31 23:59:59.999999999 UTC).unix_timestamp_nanos(),
            whole_seconds: bool,
        ) {
            let nanos = if whole_seconds { nanos - nanos.rem_euclid(1_000_000_000) } else { nanos };
            let instant = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
            let expected = instant
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            proptest::prop_assert_eq!(format_utc(instant), expected);
        }
    }

    #[test]
    fn formats_out_of_range_instants_with_their_own_offset() {
        use time::macros::datetime;
        assert_eq!(
            format_utc(datetime!(9999-12-31 23:30 -05:00)),
            "9999-12-31T23:30:00-05:00"
        );
        assert_eq!(
            format_utc(datetime!(0000-01-01 00:00:00.5 +23:59)),
            "0000-01-01T00:00:00.5+23:59"
        );
        assert_eq!(
            format_utc(datetime!(2024-04-01 02:00 +02:00)),
            "2024-04-01T00:00:00Z"
        );
    }

    #[test]
    fn rejects_with_a_reason() {
        check("", Err(TimestampError::Empty));
        check("2024-04-01T00:00:00", Err(TimestampError::NoOffset));
        check("2024-04-01T00:00:00.25", Err(TimestampError::NoOffset));
        check(
            "2024-04-01T00:00:00.0000000001Z",
            Err(TimestampError::TooPrecise { digits: 10 }),
        );
        check("2024-04-01", Err(malformed("the time of day is missing")));
        check(
            "2024-04-01X00:00:00Z",
            Err(malformed("expected `T` between the date and the time")),
        );
        check(
            "2023-02-29T00:00:00Z",
            Err(malformed("the day does not exist in that month")),
        );
        check(
            "2024-13-01T00:00:00Z",
            Err(malformed("the month is out of range")),
        );
        check(
            "2024-04-01T24:00:00Z",
            Err(malformed("the time of day is out of range")),
        );
        check(
            "2024-06-30T23:59:60Z",
            Err(malformed("leap seconds are not supported")),
        );
        check(
            "2024-04-01T00:00:00+24:00",
            Err(malformed("the UTC offset is out of range")),
        );
        check(
            "2024-04-01T00:00:00+0200",
            Err(malformed("expected `:` in the UTC offset")),
        );
        check(
            "2024-04-01T00:00:00.Z",
            Err(malformed("expected digits after the decimal point")),
        );
        check(
            "2024-04-01T00:00:00Zjunk",
            Err(malformed("unexpected text after the UTC offset")),
        );
        check("1711929600", Err(malformed("expected `-` after the year")));
        check(
            "２０２４-04-01T00:00:00Z",
            Err(malformed("the year needs four digits")),
        );
        check("now", Err(malformed("the year needs four digits")));
    }
}
