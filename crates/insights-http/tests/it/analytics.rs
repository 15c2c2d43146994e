//! Buckets, peak demand and top circuits, end to end: bucket edges pinned by hand for DST
//! days and odd offsets, every figure recomputed by the oracle from raw rows.

use serde_json::{json, Value};

use crate::oracle::{self, instant, parse_rows, usage_in, utc, Row};
use crate::support::TestApp;

const NYC: &str = "ea125f67-6b94-4992-8eb9-d832ae026106";
const NYC_SERIES: [(&str, u64); 6] = [
    ("6D12E310B371FCB1", 1),
    ("6D12E310B371FCB1", 2),
    ("6D12E310B371FCB1", 3),
    ("3E1C019A462D5B3C", 1),
    ("3E1C019A462D5B3C", 2),
    ("3E1C019A462D5B3C", 3),
];

fn nyc_series() -> Vec<(String, u64)> {
    NYC_SERIES
        .iter()
        .map(|(duid, number)| (duid.to_string(), *number))
        .collect()
}

/// Samples every minute over the 2024 DST changes of New York and Berlin, for the six NYC
/// circuits, with a few gaps; values vary so peaks and rankings are not ties.
fn dst_samples() -> String {
    let mut rows = Vec::new();
    for (from, to) in [
        ("2024-03-09T00:00:00Z", "2024-03-12T12:00:00Z"),
        ("2024-10-26T00:00:00Z", "2024-11-04T12:00:00Z"),
    ] {
        let (from, to) = (instant(from), instant(to));
        let mut at = from;
        let mut minute = 0i64;
        while at < to {
            for (index, (duid, number)) in NYC_SERIES.iter().enumerate() {
                // Skip some minutes so coverage and gaps are exercised.
                if (minute + index as i64) % 17 == 0 {
                    continue;
                }
                let watts = 100 * (index as i64 + 1) + (minute * 7 + index as i64 * 13) % 251;
                rows.push(format!(r#"{{"duid":"{duid}","circuit_number":{number},"timestamp":"{}","power_watts":{watts}}}"#, utc(at)));
            }
            at += 60_000_000_000;
            minute += 1;
        }
    }
    format!("[{}]", rows.join(",\n"))
}

/// Edges of the expected buckets: each bucket's start, then the last end, with partial flags.
fn expected_series(
    rows: &[Row],
    series: &[(String, u64)],
    buckets: &[(&str, &str, bool)],
    demand_edges: Option<&[i128]>,
) -> Value {
    Value::Array(
        buckets
            .iter()
            .map(|(start, end, partial)| {
                json!({
                    "start": start,
                    "end": end,
                    "partial": partial,
                    "usage": usage_in(rows, series, instant(start), instant(end), demand_edges),
                })
            })
            .collect(),
    )
}

fn hours(from: &str, count: usize) -> Vec<(String, String, bool)> {
    (0..count as i128)
        .map(|hour| {
            (
                utc(instant(from) + hour * 3_600_000_000_000),
                utc(instant(from) + (hour + 1) * 3_600_000_000_000),
                false,
            )
        })
        .collect()
}

fn borrowed(buckets: &[(String, String, bool)]) -> Vec<(&str, &str, bool)> {
    buckets
        .iter()
        .map(|(start, end, partial)| (start.as_str(), end.as_str(), *partial))
        .collect()
}

#[actix_web::test]
async fn hourly_buckets_follow_new_york_across_both_dst_changes() {
    let samples = dst_samples();
    let rows = parse_rows(&samples);
    let app = TestApp::spawn_with_samples(&samples).await;
    // Spring forward: the local day 2024-03-10 has 23 hours; fall back: 2024-11-03 has 25.
    for (start, end, n_hours) in [
        ("2024-03-10T05:00:00Z", "2024-03-11T04:00:00Z", 23),
        ("2024-11-03T04:00:00Z", "2024-11-04T05:00:00Z", 25),
    ] {
        let path = format!("/v1/insights/locations/{NYC}/usage?start={start}&end={end}&bucket=1h&tz=America/New_York");
        let body = app.get(&path).await.json();
        let expected = expected_series(
            &rows,
            &nyc_series(),
            &borrowed(&hours(start, n_hours)),
            None,
        );
        assert_eq!(body["series"], expected, "{path}");
        // A day bucket over the same local day is one bucket of 23 or 25 hours.
        let day = app
            .get(&path.replace("bucket=1h", "bucket=1d"))
            .await
            .json();
        assert_eq!(
            day["series"],
            expected_series(&rows, &nyc_series(), &[(start, end, false)], None)
        );
        assert_eq!(
            day["usage"],
            usage_in(&rows, &nyc_series(), instant(start), instant(end), None)
        );
    }
}

#[actix_web::test]
async fn day_buckets_in_berlin_are_25_hours_when_clocks_go_back() {
    let samples = dst_samples();
    let rows = parse_rows(&samples);
    let app = TestApp::spawn_with_samples(&samples).await;
    let path = format!("/v1/insights/locations/{NYC}/usage?start=2024-10-26T12:00:00Z&end=2024-10-28T23:00:00Z&bucket=1d&tz=Europe/Berlin");
    let body = app.get(&path).await.json();
    let expected = expected_series(
        &rows,
        &nyc_series(),
        &[
            ("2024-10-26T12:00:00Z", "2024-10-26T22:00:00Z", true),
            ("2024-10-26T22:00:00Z", "2024-10-27T23:00:00Z", false),
            ("2024-10-27T23:00:00Z", "2024-10-28T23:00:00Z", false),
        ],
        None,
    );
    assert_eq!(body["series"], expected);
}

#[actix_web::test]
async fn kolkata_and_kathmandu_hours_start_at_local_whole_hours() {
    let app = TestApp::spawn().await;
    let rows = oracle::rows();
    for (zone, buckets) in [
        (
            "Asia/Kolkata",
            vec![
                ("2024-04-01T00:00:00Z", "2024-04-01T00:30:00Z", true),
                ("2024-04-01T00:30:00Z", "2024-04-01T01:30:00Z", false),
                ("2024-04-01T01:30:00Z", "2024-04-01T02:30:00Z", false),
                ("2024-04-01T02:30:00Z", "2024-04-01T03:00:00Z", true),
            ],
        ),
        (
            "Asia/Kathmandu",
            vec![
                ("2024-04-01T00:00:00Z", "2024-04-01T00:15:00Z", true),
                ("2024-04-01T00:15:00Z", "2024-04-01T01:15:00Z", false),
                ("2024-04-01T01:15:00Z", "2024-04-01T02:15:00Z", false),
                ("2024-04-01T02:15:00Z", "2024-04-01T03:00:00Z", true),
            ],
        ),
    ] {
        let path = format!("/v1/insights/locations/{NYC}/usage?start=2024-04-01T00:00:00Z&end=2024-04-01T03:00:00Z&bucket=1h&tz={zone}");
        assert_eq!(
            app.get(&path).await.json()["series"],
            expected_series(rows, &nyc_series(), &buckets, None),
            "{zone}"
        );
    }
}

#[actix_web::test]
async fn month_buckets_include_empty_months_with_nulls() {
    let app = TestApp::spawn().await;
    let path = "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-03-15T00:00:00Z&end=2024-05-10T00:00:00Z&bucket=1mo";
    let body = app.get(path).await.json();
    let series = [("6D12E310B371FCB1".to_owned(), 1)];
    let usage = |start: &str, end: &str| oracle::usage(&series, start, end);
    assert_eq!(
        body["series"],
        json!([
            {"start": "2024-03-15T00:00:00Z", "end": "2024-04-01T00:00:00Z", "partial": true, "usage": usage("2024-03-15T00:00:00Z", "2024-04-01T00:00:00Z")},
            {"start": "2024-04-01T00:00:00Z", "end": "2024-05-01T00:00:00Z", "partial": false, "usage": usage("2024-04-01T00:00:00Z", "2024-05-01T00:00:00Z")},
            {"start": "2024-05-01T00:00:00Z", "end": "2024-05-10T00:00:00Z", "partial": true, "usage": usage("2024-05-01T00:00:00Z", "2024-05-10T00:00:00Z")},
        ])
    );
    assert_eq!(
        body["series"][0]["usage"],
        json!({"total_watts": 0, "sample_count": 0, "average_watts": null, "min_watts": null, "max_watts": null, "energy_wh": 0.0, "coverage": 0.0})
    );
}

fn demand_edges(start: &str, end: &str, step_minutes: i128) -> Vec<i128> {
    let step = step_minutes * 60_000_000_000;
    let first = (instant(start) + step - 1).div_euclid(step) * step;
    (0..)
        .map(|index| first + index * step)
        .take_while(|edge| *edge <= instant(end))
        .collect()
}

#[actix_web::test]
async fn peak_demand_is_in_every_usage_object() {
    let app = TestApp::spawn().await;
    let rows = oracle::rows();
    let (start, end) = ("2024-04-01T00:10:00Z", "2024-04-01T09:00:00Z");
    let path = format!("/v1/insights/locations/{NYC}/usage?start={start}&end={end}&bucket=1h&demand_interval=15m&top=2");
    let body = app.get(&path).await.json();
    let edges = demand_edges(start, end, 15);
    let all = nyc_series();
    assert_eq!(
        body["usage"],
        usage_in(rows, &all, instant(start), instant(end), Some(&edges))
    );
    let mut buckets = vec![(start.to_owned(), "2024-04-01T01:00:00Z".to_owned(), true)];
    buckets.extend(hours("2024-04-01T01:00:00Z", 8));
    assert_eq!(
        body["series"],
        expected_series(rows, &all, &borrowed(&buckets), Some(&edges))
    );
    // The first bucket is clipped to 50 minutes: only intervals from 00:15 count in it.
    let first_peak = body["series"][0]["usage"]["peak_demand"]["start"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        first_peak.as_str() >= "2024-04-01T00:15:00Z",
        "{first_peak}"
    );
    for (index, (duid, name)) in [
        ("6D12E310B371FCB1", "Panel-1"),
        ("3E1C019A462D5B3C", "Panel-2"),
    ]
    .iter()
    .enumerate()
    {
        let sensor_series: Vec<(String, u64)> =
            (1..=3).map(|number| (duid.to_string(), number)).collect();
        assert_eq!(body["sensors"][index]["name"], json!(name));
        assert_eq!(
            body["sensors"][index]["usage"],
            usage_in(
                rows,
                &sensor_series,
                instant(start),
                instant(end),
                Some(&edges)
            )
        );
    }
    for ranked in body["top_circuits"].as_array().unwrap() {
        let series = [series_of(ranked)];
        assert_eq!(
            ranked["usage"],
            usage_in(rows, &series, instant(start), instant(end), Some(&edges))
        );
    }
    // No whole hour fits in 50 minutes: null, not absent.
    let short = app.get(&format!("/v1/insights/locations/{NYC}/usage?start=2024-04-01T00:05:00Z&end=2024-04-01T00:55:00Z&demand_interval=1h")).await.json();
    assert_eq!(short["usage"]["peak_demand"], Value::Null);
    assert_eq!(short["sensors"][0]["usage"]["peak_demand"], Value::Null);
    // Whole intervals outside the data are 0 W, not null.
    let empty = app.get(&format!("/v1/insights/locations/{NYC}/usage?start=2030-01-01T00:00:00Z&end=2030-01-01T02:00:00Z&demand_interval=1h")).await.json();
    assert_eq!(
        empty["usage"]["peak_demand"],
        json!({"watts": 0, "start": "2030-01-01T00:00:00Z", "end": "2030-01-01T01:00:00Z"})
    );
    // Without demand_interval there is no peak_demand key at all.
    let plain = app
        .get(&format!(
            "/v1/insights/locations/{NYC}/usage?start={start}&end={end}"
        ))
        .await
        .json();
    assert!(
        plain["usage"].get("peak_demand").is_none()
            && plain.get("series").is_none()
            && plain.get("top_circuits").is_none()
    );
}

#[actix_web::test]
async fn baseload_is_the_lowest_quarter_hour_with_samples_in_every_usage_object() {
    let app = TestApp::spawn().await;
    let rows = oracle::rows();
    // From 20:07 to 02:00 the next day: the window's first and last quarter hours are cut,
    // and the hours after the data's end hold no samples, which the baseload skips.
    let (start, end) = ("2024-04-01T20:07:00Z", "2024-04-02T02:00:00Z");
    let path = format!(
        "/v1/insights/locations/{NYC}/usage?start={start}&end={end}&bucket=1h&baseload=true&top=2"
    );
    let body = app.get(&path).await.json();
    let edges = demand_edges(start, end, 15);
    let expect = |series: &[(String, u64)], from: &str, to: &str| {
        oracle::baseload(oracle::interval_powers(
            rows,
            series,
            &edges,
            instant(from),
            instant(to),
        ))
    };
    let all = nyc_series();
    assert_eq!(body["usage"]["baseload_watts"], expect(&all, start, end));
    assert!(body["usage"]["baseload_watts"].as_f64().unwrap() > 0.0);
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 6);
    for bucket in series {
        let (from, to) = (
            bucket["start"].as_str().unwrap(),
            bucket["end"].as_str().unwrap(),
        );
        assert_eq!(
            bucket["usage"]["baseload_watts"],
            expect(&all, from, to),
            "{from}"
        );
    }
    // Buckets after the data's end have no quarter hour with samples: null, not 0.
    assert_eq!(series[5]["usage"]["baseload_watts"], Value::Null);
    for (index, duid) in ["6D12E310B371FCB1", "3E1C019A462D5B3C"].iter().enumerate() {
        let sensor: Vec<(String, u64)> = (1..=3).map(|n| (duid.to_string(), n)).collect();
        assert_eq!(
            body["sensors"][index]["usage"]["baseload_watts"],
            expect(&sensor, start, end)
        );
    }
    for ranked in body["top_circuits"].as_array().unwrap() {
        let circuit = [series_of(ranked)];
        assert_eq!(
            ranked["usage"]["baseload_watts"],
            expect(&circuit, start, end)
        );
    }
    // baseload=false is the same as leaving it out; anything else names the parameter.
    let plain = app
        .get(&format!(
            "/v1/insights/locations/{NYC}/usage?start={start}&end={end}&baseload=false"
        ))
        .await
        .json();
    assert!(plain["usage"].get("baseload_watts").is_none());
    let bad = app
        .get(&format!(
            "/v1/insights/locations/{NYC}/usage?start={start}&end={end}&baseload=yes"
        ))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["invalid_params"],
        json!([{"name": "baseload", "reason": "`baseload` must be true or false, got \"yes\""}])
    );
}

/// The figures a comparison repeats from its counterpart's usage object.
fn counterpart(usage: &Value, start: &str, end: &str, compare: &str, here_wh: f64) -> Value {
    let there = usage["energy_wh"].as_f64().unwrap();
    json!({
        "compare": compare,
        "window": {"start": start, "end": end},
        "total_watts": usage["total_watts"],
        "sample_count": usage["sample_count"],
        "average_watts": usage["average_watts"],
        "energy_wh": usage["energy_wh"],
        "coverage": usage["coverage"],
        "energy_wh_change": here_wh - there,
        "energy_wh_ratio": if there == 0.0 { Value::Null } else { json!(here_wh / there) },
    })
}

#[actix_web::test]
async fn comparison_pairs_every_usage_object_with_the_previous_window() {
    let app = TestApp::spawn().await;
    let org = "955c3c4d-3a03-4d79-9655-3871f5ad999d";
    let (start, end, before) = (
        "2024-04-01T12:00:00Z",
        "2024-04-02T00:00:00Z",
        "2024-04-01T00:00:00Z",
    );
    let options = "bucket=1h&top=3";
    let body = app
        .get(&format!("/v1/insights/organizations/{org}/usage?start={start}&end={end}&{options}&compare=previous"))
        .await
        .json();
    let other = app
        .get(&format!(
            "/v1/insights/organizations/{org}/usage?start={before}&end={start}&{options}"
        ))
        .await
        .json();
    let here = |usage: &Value| usage["energy_wh"].as_f64().unwrap();
    assert_eq!(
        body["usage"]["comparison"],
        counterpart(
            &other["usage"],
            before,
            start,
            "previous",
            here(&body["usage"])
        )
    );
    for (index, location) in body["locations"].as_array().unwrap().iter().enumerate() {
        assert_eq!(
            location["usage"]["comparison"],
            counterpart(
                &other["locations"][index]["usage"],
                before,
                start,
                "previous",
                here(&location["usage"])
            )
        );
    }
    let buckets = body["series"].as_array().unwrap();
    assert_eq!(buckets.len(), 12);
    for (index, bucket) in buckets.iter().enumerate() {
        let theirs = &other["series"][index];
        assert_eq!(
            bucket["usage"]["comparison"],
            counterpart(
                &theirs["usage"],
                theirs["start"].as_str().unwrap(),
                theirs["end"].as_str().unwrap(),
                "previous",
                here(&bucket["usage"])
            )
        );
    }
    // The top circuits are compared circuit by circuit, whatever their rank before.
    for ranked in body["top_circuits"].as_array().unwrap() {
        let id = ranked["circuit"]["id"].as_str().unwrap();
        let alone = app
            .get(&format!(
                "/v1/insights/circuits/{id}/usage?start={before}&end={start}"
            ))
            .await
            .json();
        assert_eq!(
            ranked["usage"]["comparison"],
            counterpart(
                &alone["usage"],
                before,
                start,
                "previous",
                here(&ranked["usage"])
            )
        );
    }
}

#[actix_web::test]
async fn a_year_earlier_keeps_local_dates_and_names_bad_values() {
    let app = TestApp::spawn().await;
    let circuit = "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage";
    // A day of 2025 in New York against the same local day of 2024, which has the data.
    let body = app
        .get(&format!("{circuit}?start=2025-04-01T04:00:00Z&end=2025-04-02T04:00:00Z&bucket=1d&tz=America/New_York&compare=year"))
        .await
        .json();
    let comparison = &body["usage"]["comparison"];
    assert_eq!(
        comparison["window"],
        json!({"start": "2024-04-01T04:00:00Z", "end": "2024-04-02T04:00:00Z"})
    );
    assert!(comparison["sample_count"].as_u64().unwrap() > 0);
    assert_eq!(comparison["energy_wh_ratio"], json!(0.0));
    assert_eq!(
        body["series"][0]["usage"]["comparison"]["window"],
        comparison["window"]
    );
    // A leap day's counterpart is 28 February.
    let leap = app
        .get(&format!(
            "{circuit}?start=2024-02-29T00:00:00Z&end=2024-03-01T00:00:00Z&compare=year"
        ))
        .await
        .json();
    assert_eq!(
        leap["usage"]["comparison"]["window"],
        json!({"start": "2023-02-28T00:00:00Z", "end": "2023-03-01T00:00:00Z"})
    );
    for (query, reason) in [
        (
            "start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&compare=week",
            "`compare` must be previous or year, got \"week\"",
        ),
        (
            "start=0000-01-01T00:00:00Z&end=0000-01-02T00:00:00Z&compare=previous",
            "`compare=previous` would begin before year 0000; use a later window",
        ),
    ] {
        let answer = app.get(&format!("{circuit}?{query}")).await;
        assert_eq!(answer.status, 400, "{query}");
        assert_eq!(
            answer.json()["invalid_params"],
            json!([{"name": "compare", "reason": reason}])
        );
    }
}

#[actix_web::test]
async fn top_circuits_rank_by_total_then_id() {
    let app = TestApp::spawn().await;
    let (start, end) = ("2024-04-01T00:00:00Z", "2024-04-02T00:00:00Z");
    let body = app.get(&format!("/v1/insights/brands/11111111-1111-1111-1111-111111111111/usage?start={start}&end={end}&top=100")).await.json();
    let catalogue = oracle::catalogue();
    let mut expected: Vec<(i64, String)> = catalogue
        .circuits
        .iter()
        .map(|circuit| {
            let sensor = catalogue
                .sensors
                .iter()
                .find(|sensor| sensor.id == circuit.sensor_id)
                .unwrap();
            let usage = oracle::usage(
                &[(sensor.duid.0.clone(), u64::from(circuit.circuit_number))],
                start,
                end,
            );
            (
                usage["total_watts"].as_i64().unwrap(),
                circuit.id.to_string(),
            )
        })
        .collect();
    expected.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let actual: Vec<(i64, String)> = body["top_circuits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ranked| {
            (
                ranked["usage"]["total_watts"].as_i64().unwrap(),
                ranked["circuit"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(actual, expected, "all 36 circuits, ranked");
    // Circuits without data rank at 0, after the others, by id.
    let empty = app.get(&format!("/v1/insights/locations/{NYC}/usage?start=2030-01-01T00:00:00Z&end=2030-01-02T00:00:00Z&top=3")).await.json();
    let ids: Vec<&str> = empty["top_circuits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ranked| ranked["circuit"]["id"].as_str().unwrap())
        .collect();
    let mut nyc_ids: Vec<String> = catalogue
        .circuits
        .iter()
        .filter(|circuit| {
            catalogue.sensors.iter().any(|sensor| {
                sensor.id == circuit.sensor_id && sensor.location_id.to_string() == NYC
            })
        })
        .map(|circuit| circuit.id.to_string())
        .collect();
    nyc_ids.sort();
    assert_eq!(
        ids,
        nyc_ids[..3].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(
        empty["top_circuits"][0]["circuit"],
        json!({
            "id": nyc_ids[0],
            "name": "Circuit 3",
            "circuit_number": 3,
            "sensor": {"id": "785097c8-2b34-410a-a8ea-bcaf10791c45", "duid": "6D12E310B371FCB1", "name": "Panel-1"},
            "location": {"id": NYC, "name": "East‑NYC"}
        })
    );
}

#[actix_web::test]
async fn brand_and_location_usage_have_their_counts_and_breakdowns() {
    let app = TestApp::spawn().await;
    let (start, end) = ("2024-04-01T00:00:00Z", "2024-04-02T00:00:00Z");
    let brand = app.get(&format!("/v1/insights/brands/11111111-1111-1111-1111-111111111111/usage?start={start}&end={end}")).await.json();
    assert_eq!(
        (
            brand["circuit_count"].clone(),
            brand["location_count"].clone(),
            brand["organization_count"].clone()
        ),
        (json!(36), json!(6), json!(3))
    );
    assert_eq!(
        brand["brand"],
        json!({"id": "11111111-1111-1111-1111-111111111111", "name": "DemoBrand"})
    );
    let names: Vec<&str> = brand["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|part| part["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Central Franchise", "East Franchise", "West Franchise"]
    );
    let parts_total: i64 = brand["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|part| part["usage"]["total_watts"].as_i64().unwrap())
        .sum();
    assert_eq!(brand["usage"]["total_watts"].as_i64().unwrap(), parts_total);
    let all: Vec<(String, u64)> = oracle::series_of_locations(
        &oracle::catalogue()
            .locations
            .iter()
            .map(|location| location.id.to_string())
            .collect::<Vec<_>>(),
    );
    assert_eq!(brand["usage"], oracle::usage(&all, start, end));

    let location = app
        .get(&format!(
            "/v1/insights/locations/{NYC}/usage?start={start}&end={end}"
        ))
        .await
        .json();
    assert_eq!(location["location"], json!({"id": NYC, "name": "East‑NYC"}));
    assert_eq!(
        location["organization"],
        json!({"id": "955c3c4d-3a03-4d79-9655-3871f5ad999d", "name": "East Franchise"})
    );
    assert_eq!(location["circuit_count"], json!(6));
    assert_eq!(location["usage"], oracle::usage(&nyc_series(), start, end));
    assert_eq!(
        location["sensors"][1],
        json!({"id": "5e2e1545-e0d0-42a1-b177-983ebd4dce32", "duid": "3E1C019A462D5B3C", "name": "Panel-2", "usage": oracle::usage(&nyc_series()[3..], start, end)})
    );
}

/// The series of a ranked circuit of an answer, as the oracle keys it.
fn series_of(ranked: &Value) -> (String, u64) {
    let circuit = &ranked["circuit"];
    (
        circuit["sensor"]["duid"].as_str().unwrap().to_owned(),
        circuit["circuit_number"].as_u64().unwrap(),
    )
}
