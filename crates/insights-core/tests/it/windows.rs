//! Every invalid window is rejected with the right error, and parsing never panics.

use insights_core::{
    format_utc, parse_rfc3339, TimestampError, Window, WindowError, DEFAULT_MAX_WINDOW,
};
use proptest::prelude::*;
use time::{Duration, OffsetDateTime, UtcOffset};

fn instant() -> impl Strategy<Value = OffsetDateTime> {
    (
        -2_000_000_000i64..4_000_000_000,
        0u32..1_000_000_000,
        -1439i32..1440,
    )
        .prop_map(|(seconds, nanos, offset_minutes)| {
            let utc = OffsetDateTime::from_unix_timestamp(seconds).unwrap()
                + Duration::nanoseconds(i64::from(nanos));
            utc.to_offset(UtcOffset::from_whole_seconds(offset_minutes * 60).unwrap())
        })
}

/// RFC 3339 with the instant's own offset and all nine fraction digits.
fn rfc3339(instant: OffsetDateTime) -> String {
    let offset = instant.offset();
    let (hours, minutes, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}{sign}{:02}:{:02}",
        instant.year(),
        u8::from(instant.month()),
        instant.day(),
        instant.hour(),
        instant.minute(),
        instant.second(),
        instant.nanosecond(),
        hours.abs(),
        minutes.abs()
    )
}

proptest! {
    #[test]
    fn any_instant_round_trips_at_full_precision(instant in instant()) {
        let parsed = parse_rfc3339(&rfc3339(instant)).unwrap();
        prop_assert_eq!(parsed, instant);
        prop_assert_eq!(parse_rfc3339(&format_utc(parsed)).unwrap(), instant);
    }

    #[test]
    fn end_at_or_before_start_is_rejected(start in instant(), back in 0i64..1_000_000_000_000_000) {
        let end = start - Duration::nanoseconds(back);
        let error = Window::new(start, end, DEFAULT_MAX_WINDOW).unwrap_err();
        prop_assert!(matches!(error, WindowError::EndNotAfterStart { .. }), "{error:?}");
    }

    #[test]
    fn windows_longer_than_the_maximum_are_rejected(start in instant(), extra in 1i64..1_000_000_000_000_000) {
        let end = start + DEFAULT_MAX_WINDOW + Duration::nanoseconds(extra);
        let error = Window::new(start, end, DEFAULT_MAX_WINDOW).unwrap_err();
        prop_assert!(matches!(error, WindowError::TooLong { .. }), "{error:?}");
    }

    #[test]
    fn windows_up_to_the_maximum_are_accepted(start in instant(), length in 1i64..=DEFAULT_MAX_WINDOW.whole_nanoseconds() as i64) {
        let end = start + Duration::nanoseconds(length);
        let window = Window::new(start, end, DEFAULT_MAX_WINDOW).unwrap();
        prop_assert_eq!(window.length_nanos(), i128::from(length));
    }

    #[test]
    fn timestamps_without_an_offset_are_rejected(instant in instant()) {
        let text = rfc3339(instant);
        let without_offset = &text[..text.len() - 6];
        prop_assert_eq!(parse_rfc3339(without_offset), Err(TimestampError::NoOffset));
    }

    #[test]
    fn arbitrary_text_never_panics(start in "\\PC{0,40}", end in "[0-9T:.Z+-]{0,35}") {
        if let (Ok(start), Ok(end)) = (parse_rfc3339(&start), parse_rfc3339(&end)) {
            if let Ok(window) = Window::new(start, end, DEFAULT_MAX_WINDOW) {
                prop_assert!(window.start() < window.end());
            }
        }
    }
}
