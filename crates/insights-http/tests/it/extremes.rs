//! No input reaches the last defence: random queries, at the calendar's ends and beyond,
//! with every bucket, zone and demand interval and values that are not any of them, get an
//! answer whose timestamps are RFC 3339 in UTC or a 400 that names the parameter. Never a
//! 500, and never a dropped connection.

use insights_core::{format_utc, parse_rfc3339};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::Value;

use crate::support::TestApp;

const PARAMS: [&str; 6] = ["start", "end", "bucket", "tz", "demand_interval", "top"];

/// A timestamp's text: near either end of years 0000 to 9999 or anywhere, any offset up to
/// ±23:59, up to nine fraction digits; or text that is not a timestamp.
fn timestamp() -> impl Strategy<Value = String> {
    let year = prop_oneof![Just(0), Just(9999), 0..=9999i32, Just(2024)];
    let offset = prop_oneof![
        Just("Z".to_owned()),
        (any::<bool>(), 0..=23u8, 0..=59u8).prop_map(|(negative, hours, minutes)| format!(
            "{}{hours:02}:{minutes:02}",
            if negative { '-' } else { '+' }
        )),
    ];
    let well_formed = (
        year,
        1..=12u8,
        1..=31u8,
        (0..=23u8, 0..=59u8, 0..=59u8),
        0..=9usize,
        offset,
    )
        .prop_map(|(year, month, day, (hour, minute, second), digits, offset)| {
            let fraction = if digits == 0 {
                String::new()
            } else {
                format!(".{}", &"123456789"[..digits])
            };
            format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}{offset}")
        });
    prop_oneof![
        8 => well_formed,
        1 => Just("9999-12-31T23:59:59.999999999Z".to_owned()),
        1 => "[ -~]{0,30}",
    ]
}

fn one_of(values: &'static [&'static str]) -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(prop::sample::select(values))
}

#[actix_web::test]
async fn every_query_gets_an_answer_or_a_400_naming_a_parameter() {
    let app = TestApp::spawn().await;
    let entities = [
        "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage",
        "/v1/insights/locations/ea125f67-6b94-4992-8eb9-d832ae026106/usage",
        "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage",
        "/v1/insights/brands/11111111-1111-1111-1111-111111111111/usage",
    ];
    let strategy = (
        timestamp(),
        prop_oneof![
            3 => timestamp().prop_map(Some),
            // Usually a window that may be valid: a few hours or days after `start`.
            7 => (1..=96i64).prop_map(|hours| Some(hours.to_string())),
        ],
        one_of(&["1m", "5m", "15m", "30m", "1h", "1d", "1w", "1mo", "2h", ""]),
        one_of(&[
            "UTC",
            "Pacific/Kiritimati",
            "Etc/GMT+12",
            "America/New_York",
            "Asia/Kathmandu",
            "Australia/Lord_Howe",
            "Nope/Zone",
        ]),
        one_of(&["5m", "15m", "30m", "1h", "7m"]),
        one_of(&["1", "3", "100", "0", "101", "x"]),
        0..entities.len(),
    );
    let mut runner = TestRunner::deterministic();
    let (mut answered, mut refused) = (0, 0);
    for _ in 0..250 {
        let (start, end, bucket, tz, demand, top, entity) =
            strategy.new_tree(&mut runner).unwrap().current();
        // A number of hours means `start` plus that many hours, when `start` parses.
        let end = match (end, parse_rfc3339(&start)) {
            (Some(hours), Ok(instant)) if hours.parse::<i64>().is_ok() => instant
                .checked_add(time::Duration::hours(hours.parse().unwrap()))
                .map(format_utc)
                .unwrap_or(hours),
            (Some(end), _) => end,
            (None, _) => "2024-04-02T00:00:00Z".to_owned(),
        };
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("start", &start).append_pair("end", &end);
        for (name, value) in [
            ("bucket", bucket),
            ("tz", tz),
            ("demand_interval", demand),
            ("top", top.filter(|_| entity > 0)),
        ] {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        let path = format!("{}?{}", entities[entity], query.finish());
        let answer = app.get(&path).await;
        match answer.status {
            200 => {
                answered += 1;
                check_timestamps(&answer.json(), &path)
            }
            400 => {
                refused += 1;
                let body = answer.json();
                let name = body["invalid_params"][0]["name"]
                    .as_str()
                    .unwrap_or_default();
                assert!(PARAMS.contains(&name), "{path}: {body}");
            }
            status => panic!("{path}: {status} {}", String::from_utf8_lossy(&answer.body)),
        }
    }
    // Both kinds of outcome are exercised, not just refusals.
    assert!(
        answered >= 25 && refused >= 25,
        "{answered} answered, {refused} refused"
    );
}

/// Every `start` and `end` in an answer is RFC 3339 in UTC, written as it parses back.
fn check_timestamps(value: &Value, path: &str) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                if let (true, Some(text)) = (key == "start" || key == "end", field.as_str()) {
                    let round_trip = parse_rfc3339(text).map(format_utc);
                    assert_eq!(round_trip.as_deref(), Ok(text), "{path}: {key}");
                    assert!(text.ends_with('Z'), "{path}: {key} {text}");
                } else {
                    check_timestamps(field, path);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| check_timestamps(item, path)),
        _ => {}
    }
}
