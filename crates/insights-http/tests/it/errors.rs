//! Bad input: every case gets a problem+json body that names the problem, never a panic or a 500.

use serde_json::{json, Value};

use crate::support::TestApp;

const CIRCUIT: &str = "d36e0c8c-d7d4-5740-88c4-dea626057ff1";
const DAY: &str = "start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z";

fn bad_request(name: &str, reason: &str) -> Value {
    json!({
        "type": "about:blank",
        "title": "Bad Request",
        "status": 400,
        "detail": reason,
        "invalid_params": [{"name": name, "reason": reason}],
    })
}

pub fn problem(status: u16, title: &str, detail: &str) -> Value {
    json!({"type": "about:blank", "title": title, "status": status, "detail": detail})
}

async fn check(app: &TestApp, path: &str, status: u16, body: Value) {
    let answer = app.get(path).await;
    assert_eq!(
        (answer.status, answer.content_type.as_str()),
        (status, "application/problem+json"),
        "{path}"
    );
    assert_eq!(answer.json(), body, "{path}");
}

#[actix_web::test]
async fn window_errors_name_the_parameter() {
    let app = TestApp::spawn().await;
    let usage = format!("/v1/insights/circuits/{CIRCUIT}/usage");
    let example = "an RFC 3339 timestamp with an offset, for example 2024-04-01T00:00:00Z";
    check(
        &app,
        &format!("{usage}?end=2024-04-02T00:00:00Z"),
        400,
        bad_request("start", &format!("`start` is required: {example}")),
    )
    .await;
    check(
        &app,
        &format!("{usage}?start=2024-04-01T00:00:00Z"),
        400,
        bad_request("end", &format!("`end` is required: {example}")),
    )
    .await;
    check(
        &app,
        &usage,
        400,
        bad_request("start", &format!("`start` is required: {example}")),
    )
    .await;
    check(
        &app,
        &format!("{usage}?start=&end=2024-04-02T00:00:00Z"),
        400,
        bad_request("start", "`start` is empty; expected an RFC 3339 timestamp"),
    )
    .await;
    check(
        &app,
        &format!("{usage}?start=yesterday&end=2024-04-02T00:00:00Z"),
        400,
        bad_request("start", "`start` is not an RFC 3339 timestamp (the year needs four digits); expected for example 2024-04-01T00:00:00Z"),
    )
    .await;
    check(
        &app,
        &format!("{usage}?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00"),
        400,
        bad_request(
            "end",
            "`end` has no UTC offset; add `Z` or `±hh:mm`, for example 2024-04-01T00:00:00Z",
        ),
    )
    .await;
    check(
        &app,
        &format!("{usage}?start=2024-04-02T00:00:00Z&end=2024-04-01T00:00:00Z"),
        400,
        bad_request("end", "`end` (2024-04-01T00:00:00Z) must be after `start` (2024-04-02T00:00:00Z); the window is half-open, [start, end)"),
    )
    .await;
    check(
        &app,
        &format!("{usage}?start=2024-04-01T00:00:00Z&end=2024-04-01T00:00:00Z"),
        400,
        bad_request("end", "`end` (2024-04-01T00:00:00Z) must be after `start` (2024-04-01T00:00:00Z); the window is half-open, [start, end)"),
    )
    .await;
    check(
        &app,
        &format!("{usage}?start=2024-01-01T00:00:00Z&end=2025-01-01T00:00:00.000000001Z"),
        400,
        bad_request("end", "the window from `start` to `end` is 366 days 0.000000001 s, longer than the maximum of 366 days"),
    )
    .await;
    check(
        &app,
        &format!("{usage}?start=2024-04-01T00:00:00.1234567891Z&end=2024-04-02T00:00:00Z"),
        400,
        bad_request(
            "start",
            "`start` has 10 fraction digits; at most 9 (nanoseconds) are supported",
        ),
    )
    .await;
}

#[actix_web::test]
async fn undefined_and_repeated_parameters_are_rejected_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let circuit = format!("/v1/insights/circuits/{CIRCUIT}/usage?{DAY}");
    let circuit_params =
        "`start`, `end`, `bucket`, `tz`, `demand_interval`, `baseload`, `compare`, `format`";
    check(
        &app,
        &format!("{circuit}&limit=5"),
        400,
        bad_request(
            "limit",
            &format!("`limit` is not a parameter of this endpoint; it accepts {circuit_params}"),
        ),
    )
    .await;
    // `top` is for roll-ups only.
    check(
        &app,
        &format!("{circuit}&top=3"),
        400,
        bad_request(
            "top",
            &format!("`top` is not a parameter of this endpoint; it accepts {circuit_params}"),
        ),
    )
    .await;
    check(
        &app,
        &format!("{circuit}&start=2024-04-01T00:00:00Z"),
        400,
        bad_request("start", "`start` is given more than once"),
    )
    .await;
    for rollup in [
        "locations/ea125f67-6b94-4992-8eb9-d832ae026106",
        "organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d",
        "brands/11111111-1111-1111-1111-111111111111",
    ] {
        let path = format!("/v1/insights/{rollup}/usage?{DAY}");
        check(
            &app,
            &format!("{path}&limit=5"),
            400,
            bad_request("limit", "`limit` is not a parameter of this endpoint; it accepts `start`, `end`, `bucket`, `tz`, `demand_interval`, `baseload`, `compare`, `top`, `format`"),
        )
        .await;
        check(
            &app,
            &format!("{path}&top=1&top=2"),
            400,
            bad_request("top", "`top` is given more than once"),
        )
        .await;
    }
    for path in [
        "/v1/electric_sensors/785097c8-2b34-410a-a8ea-bcaf10791c45",
        "/v1/locations/ea125f67-6b94-4992-8eb9-d832ae026106/circuit-summary",
        "/v1/brands/11111111-1111-1111-1111-111111111111/metadata",
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/openapi/v2.json",
        "/docs",
        "/docs/swagger-ui.css",
    ] {
        check(
            &app,
            &format!("{path}?start=2024-04-01T00:00:00Z"),
            400,
            bad_request(
                "start",
                "`start` is not a parameter of this endpoint; it takes no query parameters",
            ),
        )
        .await;
    }
}

#[actix_web::test]
async fn malformed_ids_are_400_and_unknown_ids_are_404() {
    let app = TestApp::spawn().await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    let cases = [
        (
            "/v1/insights/circuits/{}/usage?".to_owned() + DAY,
            "circuit_id",
            "circuit",
        ),
        (
            "/v1/insights/organizations/{}/usage?".to_owned() + DAY,
            "organization_id",
            "organization",
        ),
        (
            "/v1/electric_sensors/{}".to_owned(),
            "sensor_id",
            "electric sensor",
        ),
        (
            "/v1/locations/{}/circuit-summary".to_owned(),
            "location_id",
            "location",
        ),
        ("/v1/brands/{}/metadata".to_owned(), "brand_id", "brand"),
    ];
    for (template, param, entity) in &cases {
        for malformed in [
            "not-a-uuid",
            "1234",
            "d36e0c8cd7d457408",
            "d36e0c8c-d7d4-5740-88c4-dea626057ff1x",
            "%27%20OR%201%3D1--",
        ] {
            let raw = malformed
                .replace("%27", "'")
                .replace("%20", " ")
                .replace("%3D", "=");
            check(
                &app,
                &template.replace("{}", malformed),
                400,
                bad_request(param, &format!("`{param}` must be a UUID such as 955c3c4d-3a03-4d79-9655-3871f5ad999d, got {raw:?}")),
            )
            .await;
        }
        check(
            &app,
            &template.replace("{}", unknown),
            404,
            problem(
                404,
                "Not Found",
                &format!("{entity} {unknown} does not exist"),
            ),
        )
        .await;
    }
}

#[actix_web::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = TestApp::spawn().await;
    check(
        &app,
        "/v1/nothing",
        404,
        problem(404, "Not Found", "no route matches /v1/nothing"),
    )
    .await;
    check(
        &app,
        "/nothing",
        404,
        problem(404, "Not Found", "no route matches /nothing"),
    )
    .await;
    check(
        &app,
        "/v1/insights/circuits//usage",
        404,
        problem(
            404,
            "Not Found",
            "no route matches /v1/insights/circuits//usage",
        ),
    )
    .await;
    let answer = app.request("POST", "/healthz").await;
    assert_eq!(
        (answer.status, answer.content_type.as_str()),
        (405, "application/problem+json")
    );
    assert_eq!(
        answer.json(),
        problem(
            405,
            "Method Not Allowed",
            "POST is not allowed on /healthz; use GET or HEAD"
        )
    );
    // Every route answers HEAD as GET (`middleware::head_as_get`), so Allow names both.
    assert_eq!(answer.header("allow"), Some("GET, HEAD"));
    let answer = app
        .request(
            "DELETE",
            &format!("/v1/insights/circuits/{CIRCUIT}/usage?{DAY}"),
        )
        .await;
    assert_eq!(answer.status, 405);
}

#[actix_web::test]
async fn head_is_answered_on_every_get_route_without_a_body() {
    let app = TestApp::spawn().await;
    for path in [
        "/healthz".to_owned(),
        "/readyz".to_owned(),
        "/openapi.json".to_owned(),
        format!("/v1/insights/circuits/{CIRCUIT}/usage?{DAY}"),
        "/v1/brands/11111111-1111-1111-1111-111111111111/metadata".to_owned(),
    ] {
        let get = app.get(&path).await;
        let head = app.request("HEAD", &path).await;
        assert_eq!(
            (head.status, head.content_type.as_str(), head.body.len()),
            (200, get.content_type.as_str(), 0),
            "{path}"
        );
    }
}

#[actix_web::test]
async fn analytics_parameters_name_what_is_wrong() {
    let app = TestApp::spawn().await;
    let org =
        format!("/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?{DAY}");
    let widths = "1m, 5m, 15m, 30m, 1h, 1d, 1w, 1mo";
    let cases: &[(&str, &str, String)] = &[
        (
            "&bucket=2h",
            "bucket",
            format!("`bucket` must be one of {widths}, got \"2h\""),
        ),
        (
            "&bucket=",
            "bucket",
            format!("`bucket` must be one of {widths}, got \"\""),
        ),
        (
            "&bucket=1h&tz=Mars/Olympus",
            "tz",
            "`tz` must be an IANA time zone such as America/New_York, got \"Mars/Olympus\""
                .to_owned(),
        ),
        (
            "&bucket=1h&tz=america/new_york",
            "tz",
            "`tz` must be an IANA time zone such as America/New_York, got \"america/new_york\""
                .to_owned(),
        ),
        (
            "&tz=UTC",
            "tz",
            "`tz` applies only with `bucket`; add a `bucket` or drop `tz`".to_owned(),
        ),
        (
            "&demand_interval=1d",
            "demand_interval",
            "`demand_interval` must be one of 5m, 15m, 30m, 1h, got \"1d\"".to_owned(),
        ),
        (
            "&top=0",
            "top",
            "`top` must be from 1 to 100, got 0".to_owned(),
        ),
        (
            "&top=101",
            "top",
            "`top` must be from 1 to 100, got 101".to_owned(),
        ),
        (
            "&top=-1",
            "top",
            "`top` must be a whole number from 1 to 100, got \"-1\"".to_owned(),
        ),
        (
            "&top=ten",
            "top",
            "`top` must be a whole number from 1 to 100, got \"ten\"".to_owned(),
        ),
    ];
    for (extra, name, reason) in cases {
        check(
            &app,
            &format!("{org}{extra}"),
            400,
            bad_request(name, reason),
        )
        .await;
    }
    let year = "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-01-01T00:00:00Z&end=2025-01-01T00:00:00Z";
    check(
        &app,
        &format!("{year}&bucket=1m"),
        400,
        bad_request("bucket", "`bucket=1m` would make 527041 buckets over this window, more than the 10000 allowed; use a coarser bucket such as `1h`"),
    )
    .await;
    check(
        &app,
        &format!("{year}&bucket=30m&tz=Asia/Kolkata"),
        400,
        bad_request("bucket", "`bucket=30m` would make 17568 buckets over this window, more than the 10000 allowed; use a coarser bucket such as `1h`"),
    )
    .await;
}
