//! The data range, HTTP caching (ETag, 304, Cache-Control), the brand list and the
//! dashboard's files.

use serde_json::json;

use crate::support::TestApp;

const EAST: &str = "955c3c4d-3a03-4d79-9655-3871f5ad999d";
const CIRCUIT: &str = "d36e0c8c-d7d4-5740-88c4-dea626057ff1";

/// A window inside the shipped day: it closed before the latest sample.
const SETTLED: &str = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-04-01T00:00:00Z&end=2024-04-01T06:00:00Z&bucket=1h";
/// A window that runs past the latest sample (2024-04-01T23:59:00Z).
const OPEN: &str = "/v1/insights/organizations/955c3c4d-3a03-4d79-9655-3871f5ad999d/usage?start=2024-04-01T18:00:00Z&end=2024-04-02T06:00:00Z&bucket=1h";

#[actix_web::test]
async fn data_ranges_name_the_first_and_last_sample_and_the_interval() {
    let app = TestApp::spawn().await;
    let day = |circuits: usize| {
        json!({
            "circuit_count": circuits,
            "first_sample": "2024-04-01T00:00:00Z",
            "last_sample": "2024-04-01T23:59:00Z",
            "nominal_interval_seconds": 60.0
        })
    };
    for (path, expected) in [
        ("/v1/insights/data-range".to_owned(), day(36)),
        (
            format!("/v1/insights/organizations/{EAST}/data-range"),
            day(12),
        ),
        (
            format!("/v1/insights/circuits/{CIRCUIT}/data-range"),
            day(1),
        ),
        (
            "/v1/insights/sensors/785097c8-2b34-410a-a8ea-bcaf10791c45/data-range".to_owned(),
            day(3),
        ),
    ] {
        let answer = app.get(&path).await;
        assert_eq!((answer.status, answer.json()), (200, expected), "{path}");
    }
    let missing = app
        .get("/v1/insights/locations/00000000-0000-4000-8000-000000000000/data-range")
        .await;
    assert_eq!(missing.status, 404);
    let with_query = app.get("/v1/insights/data-range?start=x").await;
    assert_eq!(with_query.status, 400);
}

#[actix_web::test]
async fn a_circuit_without_samples_has_a_range_of_nulls() {
    // One sample of one circuit, at a sub-second instant.
    let app = TestApp::spawn_with_samples(
        r#"[{"duid":"6D12E310B371FCB1","circuit_number":1,"timestamp":"2024-04-01T10:00:00.123456789Z","power_watts":5}]"#,
    )
    .await;
    let answer = app
        .get(&format!("/v1/insights/circuits/{CIRCUIT}/data-range"))
        .await;
    assert_eq!(
        answer.json(),
        json!({"circuit_count": 1, "first_sample": "2024-04-01T10:00:00.123456789Z", "last_sample": "2024-04-01T10:00:00.123456789Z", "nominal_interval_seconds": 60.0})
    );
    let answer = app
        .get("/v1/insights/circuits/8e120741-3f75-5d9c-b5af-6be8a094364a/data-range")
        .await;
    assert_eq!(
        answer.json(),
        json!({"circuit_count": 1, "first_sample": null, "last_sample": null, "nominal_interval_seconds": 60.0})
    );
}

#[actix_web::test]
async fn a_matching_etag_is_answered_304_without_a_body() {
    let app = TestApp::spawn().await;
    let first = app.get(SETTLED).await;
    let tag = first.etag.clone().expect("a 200 carries an ETag");
    assert!(
        tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34,
        "{tag}"
    );
    // The same bytes, the same tag.
    assert_eq!(app.get(SETTLED).await.etag.as_deref(), Some(tag.as_str()));
    for if_none_match in [
        tag.clone(),
        format!("W/{tag}"),
        format!("\"other\", {tag}"),
        "*".to_owned(),
    ] {
        let again = app
            .request_with("GET", SETTLED, &[("If-None-Match", &if_none_match)])
            .await;
        assert_eq!(
            (again.status, again.body.len(), again.etag.as_deref()),
            (304, 0, Some(tag.as_str())),
            "{if_none_match}"
        );
        assert_eq!(again.cache_control.as_deref(), Some("public, max-age=300"));
    }
    let head = app
        .request_with("HEAD", SETTLED, &[("If-None-Match", &tag)])
        .await;
    assert_eq!(head.status, 304);
    // Another tag, or another request, is a full answer.
    let other = app
        .request_with("GET", SETTLED, &[("If-None-Match", "\"0123\"")])
        .await;
    assert_eq!(
        (other.status, other.body, other.etag),
        (200, first.body, Some(tag.clone()))
    );
    let open = app
        .request_with("GET", OPEN, &[("If-None-Match", &tag)])
        .await;
    assert_eq!(open.status, 200);
    assert_ne!(open.etag, Some(tag));
}

#[actix_web::test]
async fn cache_lifetimes_follow_whether_the_window_is_settled() {
    let app = TestApp::spawn().await;
    let lifetime = |answer: crate::support::Answer| (answer.status, answer.cache_control);
    let settled = (200, Some("public, max-age=300".to_owned()));
    let live = (200, Some("public, max-age=10".to_owned()));
    assert_eq!(lifetime(app.get(SETTLED).await), settled);
    assert_eq!(lifetime(app.get(OPEN).await), live);
    // A window that ends exactly at the latest sample's instant is settled, as is one before
    // the data began (a backfill changes its tag, seen on revalidation); a day after it is not.
    let circuit = format!("/v1/insights/circuits/{CIRCUIT}/usage");
    assert_eq!(
        lifetime(
            app.get(&format!(
                "{circuit}?start=2024-04-01T00:00:00Z&end=2024-04-01T23:59:00Z"
            ))
            .await
        ),
        settled
    );
    assert_eq!(
        lifetime(
            app.get(&format!(
                "{circuit}?start=2024-03-01T00:00:00Z&end=2024-03-02T00:00:00Z"
            ))
            .await
        ),
        settled
    );
    assert_eq!(
        lifetime(
            app.get(&format!(
                "{circuit}?start=2024-04-05T00:00:00Z&end=2024-04-06T00:00:00Z"
            ))
            .await
        ),
        live
    );
    // Metadata, the brand list and data ranges change with the monolith and every import.
    for path in [
        "/v1/brands".to_owned(),
        "/v1/brands/11111111-1111-1111-1111-111111111111/metadata".to_owned(),
        "/v1/insights/data-range".to_owned(),
        format!("/v1/insights/organizations/{EAST}/data-range"),
    ] {
        assert_eq!(lifetime(app.get(&path).await), live, "{path}");
    }
    // Errors and the operations endpoints carry no validators.
    for path in [
        "/v1/insights/organizations/00000000-0000-4000-8000-000000000000/data-range",
        "/v1/insights/circuits/d36e0c8c-d7d4-5740-88c4-dea626057ff1/usage?start=2024-04-02T00:00:00Z&end=2024-04-01T00:00:00Z",
        "/healthz",
    ] {
        let answer = app.get(path).await;
        assert_eq!((answer.etag, answer.cache_control), (None, None), "{path}");
    }
}

#[actix_web::test]
async fn the_brand_list_names_every_organization_and_location() {
    let app = TestApp::spawn().await;
    let answer = app.get("/v1/brands").await;
    let place = |id: &str, name: &str| json!({"id": id, "name": name});
    let expected = json!({"brands": [{
        "id": "11111111-1111-1111-1111-111111111111",
        "name": "DemoBrand",
        "organizations": [
            {"id": "719aeacd-dc94-4476-874b-0d178d8c0c48", "name": "Central Franchise", "locations": [
                place("8b91d138-3376-4ee2-b53e-07a73b5f095d", "Central‑Chicago"),
                place("fb7aa48f-d6c4-44cc-bb68-89529260c886", "Central‑Dallas")
            ]},
            {"id": EAST, "name": "East Franchise", "locations": [
                place("3b1ae0b8-1886-476c-9147-18b9d0a4d846", "East‑Boston"),
                place("ea125f67-6b94-4992-8eb9-d832ae026106", "East‑NYC")
            ]},
            {"id": "eac7fee9-07d9-4882-93f5-14f11d3f7b89", "name": "West Franchise", "locations": [
                place("afe3bacf-9d0d-4acd-b895-9947f58e23cb", "West‑LA"),
                place("079f2808-5770-44e6-b2d8-ee44bf76e3de", "West‑SF")
            ]}
        ]
    }]});
    assert_eq!((answer.status, answer.json()), (200, expected));
}

#[actix_web::test]
async fn the_dashboard_is_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let page = app
        .get("/?organization=955c3c4d-3a03-4d79-9655-3871f5ad999d&start=2024-04-01T00:00:00Z")
        .await;
    assert_eq!(
        (page.status, page.content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    let html = String::from_utf8_lossy(&page.body);
    // Every file the page names is served, from this origin.
    for file in [
        "/dashboard/vendor/uPlot.iife.min.js",
        "/dashboard/vendor/uPlot.min.css",
        "/dashboard/dashboard.js",
        "/dashboard/dashboard.css",
    ] {
        assert!(html.contains(file), "the page does not load {file}");
        let answer = app.get(file).await;
        assert_eq!(answer.status, 200, "{file}");
        assert!(!answer.body.is_empty(), "{file}");
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    let missing = app.get("/dashboard/nothing.js").await;
    assert_eq!(
        (missing.status, missing.content_type.as_str()),
        (404, "application/problem+json")
    );
}
