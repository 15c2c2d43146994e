//! The insights endpoints: whole bodies against the oracle, over many kinds of window.

use serde_json::{json, Value};

use crate::oracle;
use crate::support::TestApp;

const CIRCUIT: &str = "d36e0c8c-d7d4-5740-88c4-dea626057ff1";
const EAST: &str = "955c3c4d-3a03-4d79-9655-3871f5ad999d";

fn circuit_body(start_utc: &str, end_utc: &str, usage: Value) -> Value {
    json!({
        "circuit": {
            "id": CIRCUIT,
            "name": "Circuit 1",
            "circuit_number": 1,
            "sensor": {"id": "785097c8-2b34-410a-a8ea-bcaf10791c45", "duid": "6D12E310B371FCB1", "name": "Panel-1"},
            "location": {"id": "ea125f67-6b94-4992-8eb9-d832ae026106", "name": "East‑NYC"},
            "organization": {"id": EAST, "name": "East Franchise"}
        },
        "window": {"start": start_utc, "end": end_utc},
        "usage": usage
    })
}

/// Each case: the query's start and end as sent, then as the server must echo them in UTC.
const WINDOWS: &[(&str, &str, &str, &str)] = &[
    // A whole day, exactly the data.
    (
        "2024-04-01T00:00:00Z",
        "2024-04-02T00:00:00Z",
        "2024-04-01T00:00:00Z",
        "2024-04-02T00:00:00Z",
    ),
    // One sample: [t, t + 1 ns).
    (
        "2024-04-01T12:00:00Z",
        "2024-04-01T12:00:00.000000001Z",
        "2024-04-01T12:00:00Z",
        "2024-04-01T12:00:00.000000001Z",
    ),
    // A sample exactly on `end` is excluded.
    (
        "2024-04-01T11:59:59.999999999Z",
        "2024-04-01T12:00:00Z",
        "2024-04-01T11:59:59.999999999Z",
        "2024-04-01T12:00:00Z",
    ),
    // Unaligned, with fractions and offsets other than Z.
    (
        "2024-04-01T05:30:30.5+05:30",
        "2024-04-01T03:17:00.123456789-04:00",
        "2024-04-01T00:00:30.5Z",
        "2024-04-01T07:17:00.123456789Z",
    ),
    (
        "2024-04-01T00:00:00.000001+00:00",
        "2024-04-01T23:59:00Z",
        "2024-04-01T00:00:00.000001Z",
        "2024-04-01T23:59:00Z",
    ),
    // Partly and wholly outside the data.
    (
        "2024-03-31T22:00:00Z",
        "2024-04-01T02:00:00Z",
        "2024-03-31T22:00:00Z",
        "2024-04-01T02:00:00Z",
    ),
    (
        "2024-04-02T00:00:00Z",
        "2024-04-03T00:00:00Z",
        "2024-04-02T00:00:00Z",
        "2024-04-03T00:00:00Z",
    ),
    // The longest window allowed.
    (
        "2024-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
    ),
];

#[actix_web::test]
async fn circuit_usage_matches_the_oracle_for_every_kind_of_window() {
    let app = TestApp::spawn().await;
    let series = [("6D12E310B371FCB1".to_owned(), 1)];
    for (start, end, start_utc, end_utc) in WINDOWS {
        let query = format!("start={}&end={}", encode(start), encode(end));
        let answer = app
            .get(&format!("/v1/insights/circuits/{CIRCUIT}/usage?{query}"))
            .await;
        assert_eq!(
            (answer.status, answer.content_type.as_str()),
            (200, "application/json"),
            "{query}"
        );
        let expected = circuit_body(
            start_utc,
            end_utc,
            oracle::usage(&series, start_utc, end_utc),
        );
        assert_eq!(answer.json(), expected, "{query}");
    }
}

#[actix_web::test]
async fn a_whole_day_has_exact_figures() {
    let app = TestApp::spawn().await;
    let answer = app.get(&format!("/v1/insights/circuits/{CIRCUIT}/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z")).await;
    // Pinned, so that a change to the shipped data or the arithmetic is seen.
    let expected = circuit_body(
        "2024-04-01T00:00:00Z",
        "2024-04-02T00:00:00Z",
        json!({
            "total_watts": 3157481,
            "sample_count": 1440,
            "average_watts": 2192.695138888889,
            "min_watts": 1076,
            "max_watts": 4426,
            "energy_wh": 52624.683333333334,
            "coverage": 1.0
        }),
    );
    assert_eq!(answer.json(), expected);
}

#[actix_web::test]
async fn an_empty_window_answers_zero_samples_and_nulls() {
    let app = TestApp::spawn().await;
    let answer = app.get(&format!("/v1/insights/circuits/{CIRCUIT}/usage?start=2030-01-01T00:00:00Z&end=2030-01-02T00:00:00Z")).await;
    let expected = circuit_body(
        "2030-01-01T00:00:00Z",
        "2030-01-02T00:00:00Z",
        json!({
            "total_watts": 0,
            "sample_count": 0,
            "average_watts": null,
            "min_watts": null,
            "max_watts": null,
            "energy_wh": 0.0,
            "coverage": 0.0
        }),
    );
    assert_eq!((answer.status, answer.json()), (200, expected));
}

fn location_usage(id: &str, name: &str, start: &str, end: &str) -> Value {
    let series = oracle::series_of_locations(&[id.to_owned()]);
    let usage = oracle::usage(&series, start, end);
    let average_per_circuit = usage["total_watts"].as_i64().unwrap() as f64 / series.len() as f64;
    json!({
        "id": id,
        "name": name,
        "circuit_count": series.len(),
        "usage": usage,
        "average_watts_per_circuit": if average_per_circuit.fract() == 0.0 { json!(average_per_circuit as i64) } else { json!(average_per_circuit) },
    })
}

#[actix_web::test]
async fn organization_usage_matches_the_oracle() {
    let app = TestApp::spawn().await;
    for (start, end) in [
        ("2024-04-01T00:00:00Z", "2024-04-02T00:00:00Z"),
        ("2024-04-01T06:15:10.25Z", "2024-04-01T09:00:00Z"),
    ] {
        let answer = app
            .get(&format!(
                "/v1/insights/organizations/{EAST}/usage?start={start}&end={end}"
            ))
            .await;
        // Locations sort by name in code-point order: "East‑Boston" before "East‑NYC".
        let boston = location_usage(
            "3b1ae0b8-1886-476c-9147-18b9d0a4d846",
            "East‑Boston",
            start,
            end,
        );
        let nyc = location_usage(
            "ea125f67-6b94-4992-8eb9-d832ae026106",
            "East‑NYC",
            start,
            end,
        );
        let series = oracle::series_of_locations(&[
            "3b1ae0b8-1886-476c-9147-18b9d0a4d846".into(),
            "ea125f67-6b94-4992-8eb9-d832ae026106".into(),
        ]);
        let usage = oracle::usage(&series, start, end);
        let average_per_circuit = usage["total_watts"].as_i64().unwrap() as f64 / 12.0;
        let expected = json!({
            "organization": {"id": EAST, "name": "East Franchise", "brand": {"id": "11111111-1111-1111-1111-111111111111", "name": "DemoBrand"}},
            "window": {"start": start, "end": end},
            "circuit_count": 12,
            "location_count": 2,
            "usage": usage,
            "average_watts_per_circuit": average_per_circuit,
            "locations": [boston, nyc],
        });
        assert_eq!(answer.json(), expected, "{start}..{end}");
        // The roll-up law, on the wire: the organization's total is its locations' totals.
        let body = answer.json();
        let locations_total: i64 = body["locations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|location| location["usage"]["total_watts"].as_i64().unwrap())
            .sum();
        assert_eq!(
            body["usage"]["total_watts"].as_i64().unwrap(),
            locations_total
        );
    }
}

/// Percent-encodes what a query value needs here: `+` and `:`.
fn encode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
