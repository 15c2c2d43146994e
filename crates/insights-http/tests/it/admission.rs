//! Admission by estimated work: a usage request is light up to `INSIGHTS_LIGHT_WORK` figures
//! (circuits × ranges) and heavy past it, and the class changes where the work runs, never
//! the answer.

use crate::support::TestApp;

const CIRCUIT: &str = "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage";
const ORGANIZATION: &str = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage";

/// The requests that read the time series counted by class so far, as `(light, heavy)`.
async fn classified(app: &TestApp) -> (u64, u64) {
    let metrics = String::from_utf8(app.get("/metrics").await.body).unwrap();
    let count = |class: &str| {
        let prefix = format!("insights_series_requests_total{{class=\"{class}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"))
            .parse()
            .unwrap()
    };
    (count("light"), count("heavy"))
}

#[actix_web::test]
async fn a_request_is_light_up_to_the_threshold_and_heavy_past_it() {
    let app = TestApp::spawn_settings(&[("INSIGHTS_LIGHT_WORK", "24")]).await;
    fn check(path: &str, expected: (u64, u64)) -> (String, (u64, u64)) {
        (path.to_owned(), expected)
    }
    for (path, expected) in [
        // One circuit, 24 hourly buckets: 24 figures, at the threshold.
        check(
            &format!("{CIRCUIT}?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&bucket=1h"),
            (1, 0),
        ),
        // One hour more is a 25th bucket.
        check(
            &format!("{CIRCUIT}?start=2024-04-01T00:00:00Z&end=2024-04-02T01:00:00Z&bucket=1h"),
            (1, 1),
        ),
        // Without buckets, one figure a circuit: the seed's first organization has 12.
        check(
            &format!("{ORGANIZATION}?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z"),
            (2, 1),
        ),
        // Two hourly buckets over its 12 circuits are 24 figures; three are 36.
        check(
            &format!(
                "{ORGANIZATION}?start=2024-04-01T00:00:00Z&end=2024-04-01T02:00:00Z&bucket=1h"
            ),
            (3, 1),
        ),
        check(
            &format!(
                "{ORGANIZATION}?start=2024-04-01T00:00:00Z&end=2024-04-01T03:00:00Z&bucket=1h"
            ),
            (3, 2),
        ),
    ] {
        assert_eq!(app.get(&path).await.status, 200, "{path}");
        assert_eq!(classified(&app).await, expected, "after {path}");
    }
}

#[actix_web::test]
async fn light_and_heavy_work_give_the_same_answers() {
    let everything_light = TestApp::spawn_settings(&[("INSIGHTS_LIGHT_WORK", "16000000")]).await;
    let everything_heavy = TestApp::spawn_settings(&[("INSIGHTS_LIGHT_WORK", "0")]).await;
    for path in [
        format!("{CIRCUIT}?start=2024-04-01T00:00:00Z&end=2024-04-03T00:00:00Z&bucket=1h&demand_interval=15m"),
        format!("{ORGANIZATION}?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&top=3&baseload=true"),
        "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/data-range".to_owned(),
        "/v1/insights/data-range".to_owned(),
    ] {
        let light = everything_light.get(&path).await;
        let heavy = everything_heavy.get(&path).await;
        assert_eq!(light.status, 200, "{path}");
        assert_eq!(light.json(), heavy.json(), "{path}");
        // Heavy answers are written, and tagged, on the compute pool (`answer`): the same
        // bytes and the same tag as the middlewares give a light one.
        assert_eq!(light.body, heavy.body, "{path}");
        assert_eq!(light.etag, heavy.etag, "{path}");
    }
    let csv = format!(
        "{ORGANIZATION}?start=2024-04-01T00:00:00Z&end=2024-04-02T00:00:00Z&bucket=1h&format=csv"
    );
    let (light, heavy) = (
        everything_light.get(&csv).await,
        everything_heavy.get(&csv).await,
    );
    assert!(
        light.content_type.starts_with("text/csv"),
        "{}",
        light.content_type
    );
    assert_eq!(
        (&light.content_type, &light.body, &light.etag),
        (&heavy.content_type, &heavy.body, &heavy.etag)
    );
    // A client that holds the tag gets a 304 either way.
    let tag = heavy.etag.clone().unwrap();
    let again = everything_heavy
        .request_with("GET", &csv, &[("If-None-Match", &tag)])
        .await;
    assert_eq!(again.status, 304);
    // Usage requests are classed by their work, data ranges by their scope: the whole
    // fleet's is heavy, an organization's light.
    assert_eq!(classified(&everything_light).await, (4, 1));
    assert_eq!(classified(&everything_heavy).await, (1, 5));
}
