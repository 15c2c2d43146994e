//! Rate limits: one key's flood leaves another key's requests alone, a key's own rate wins,
//! addresses are limited while keys are off, and the operations endpoints are never limited.

use insights_http::auth::{key_line, KeyScope};
use serde_json::json;

use crate::errors::problem;
use crate::support::{scratch_file, Answer, TestApp};

const DEMO_BRAND: &str = "11111111-1111-1111-1111-111111111111";
const EAST: &str = "955c3c4d-3a03-4d79-9655-3871f5ad999d";
const BRAND_KEY: &str = "ins_rate_brand";
const EAST_KEY: &str = "ins_rate_east";
const CIRCUIT_DAY: &str = "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z";

/// A service with two keys: the brand's takes the default rate, East's `east_rate` if given.
async fn spawn(default_rate: &str, east_rate: Option<&str>) -> TestApp {
    let brand = key_line(
        &KeyScope::Brand(DEMO_BRAND.parse().unwrap()),
        BRAND_KEY,
        "brand",
    );
    let east = key_line(&KeyScope::Organization(EAST.parse().unwrap()), EAST_KEY, "");
    let east = match east_rate {
        // The rate goes between the hash and the label.
        Some(rate) => format!("{east} rate={rate}"),
        None => east,
    };
    let keys = scratch_file("keys", &format!("{brand}\n{east}\n"));
    let app = TestApp::spawn_settings(&[
        ("INSIGHTS_API_KEYS_FILE", keys.to_str().unwrap()),
        ("INSIGHTS_RATE_LIMIT", default_rate),
        ("INSIGHTS_METRICS_REQUIRE_KEY", "false"),
    ])
    .await;
    std::fs::remove_file(keys).unwrap();
    app
}

async fn get_as(app: &TestApp, key: &str, path: &str) -> Answer {
    let authorization = format!("Bearer {key}");
    app.request_with("GET", path, &[("Authorization", &authorization)])
        .await
}

/// The statuses and `RateLimit` headers of `count` requests in a row.
async fn burst(app: &TestApp, key: &str, count: usize) -> Vec<(u16, Option<String>)> {
    let mut answers = Vec::new();
    for _ in 0..count {
        let answer = get_as(app, key, CIRCUIT_DAY).await;
        answers.push((answer.status, answer.header("ratelimit").map(str::to_owned)));
    }
    answers
}

#[actix_web::test]
async fn one_keys_flood_leaves_another_keys_requests_alone() {
    // One request a second with bursts of three: the test's requests come far faster, so
    // the fourth of a burst is refused whatever the machine's speed.
    let app = spawn("1/3", None).await;
    let allowed = |remaining: u32| {
        (
            200,
            Some(format!("\"burst\";r={remaining};t={}", 3 - remaining)),
        )
    };
    assert_eq!(
        burst(&app, BRAND_KEY, 3).await,
        [allowed(2), allowed(1), allowed(0)]
    );
    let refused = get_as(&app, BRAND_KEY, CIRCUIT_DAY).await;
    assert_eq!(
        (refused.status, refused.json()),
        (
            429,
            problem(
                429,
                "Too Many Requests",
                "this caller may send 1 requests a second, in bursts of up to 3; retry after the Retry-After delay"
            )
        )
    );
    assert_eq!(refused.retry_after.as_deref(), Some("1"));
    assert_eq!(
        refused.header("ratelimit-policy"),
        Some("\"burst\";q=3;w=3")
    );
    assert_eq!(refused.header("ratelimit"), Some("\"burst\";r=0;t=1"));
    // The other key still has its whole burst.
    assert_eq!(burst(&app, EAST_KEY, 1).await, [allowed(2)]);
    // Operations are never limited.
    for path in ["/healthz", "/readyz", "/metrics"] {
        for _ in 0..5 {
            let answer = get_as(&app, BRAND_KEY, path).await;
            assert_eq!(answer.status, 200, "{path}");
            assert_eq!(answer.header("ratelimit"), None, "{path}");
        }
    }
    let metrics = String::from_utf8(app.get("/metrics").await.body).unwrap();
    for line in [
        "insights_rate_limited_total{caller=\"brand\"} 1",
        "insights_rate_limited_total{caller=\"organization\"} 0",
        "insights_rate_limited_total{caller=\"address\"} 0",
    ] {
        assert!(metrics.contains(line), "no {line} in /metrics");
    }
}

#[actix_web::test]
async fn a_keys_own_rate_wins_and_keys_without_limits_carry_no_headers() {
    let app = spawn("off", Some("1/1")).await;
    let statuses = |answers: Vec<(u16, Option<String>)>| -> Vec<u16> {
        answers.into_iter().map(|(status, _)| status).collect()
    };
    assert_eq!(statuses(burst(&app, EAST_KEY, 2).await), [200, 429]);
    let unlimited = burst(&app, BRAND_KEY, 5).await;
    assert_eq!(unlimited, vec![(200, None); 5]);
}

#[actix_web::test]
async fn addresses_are_limited_while_keys_are_off() {
    let app = TestApp::spawn_settings(&[("INSIGHTS_RATE_LIMIT", "1/2")]).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(app.get(CIRCUIT_DAY).await.status);
    }
    assert_eq!(statuses, [200, 200, 429]);
    let answer = app.get("/v1/brands").await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.json()["status"], json!(429));
}

#[actix_web::test]
async fn a_bad_rate_stops_startup_naming_the_variable() {
    let settings = insights_http::Settings::from_lookup(|key| {
        (key == "INSIGHTS_RATE_LIMIT").then(|| "fast".to_owned())
    });
    assert_eq!(
        settings.map(drop).map_err(|error| error.to_string()),
        Err("INSIGHTS_RATE_LIMIT must be off or <requests per second>/<burst>, such as 20/40, got \"fast\"".to_owned())
    );
}
