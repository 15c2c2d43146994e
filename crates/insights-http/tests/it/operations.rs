//! Health, readiness, the OpenAPI documents and the docs page.

use serde_json::json;

use crate::support::TestApp;

#[actix_web::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let healthz = app.get("/healthz").await;
    assert_eq!(
        (healthz.status, healthz.json()),
        (200, json!({"status": "ok"}))
    );
    let readyz = app.get("/readyz").await;
    assert_eq!(
        (readyz.status, readyz.json()),
        (200, json!({"status": "ready"}))
    );
}

#[actix_web::test]
async fn serves_both_openapi_documents() {
    let app = TestApp::spawn().await;
    let docs = insights_http::openapi::documents();
    let v3 = app.get("/openapi.json").await;
    assert_eq!(
        (v3.status, v3.content_type.as_str()),
        (200, "application/json")
    );
    assert_eq!(String::from_utf8(v3.body).unwrap(), docs.v3);
    let v2 = app.get("/openapi/v2.json").await;
    assert_eq!(v2.json()["swagger"], json!("2.0"));
    assert_eq!(String::from_utf8(v2.body).unwrap(), docs.v2);
}

#[actix_web::test]
async fn docs_page_is_self_contained_and_never_panics() {
    let app = TestApp::spawn().await;
    let page = app.get("/docs").await;
    assert_eq!(
        (page.status, page.content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    let html = String::from_utf8(page.body).unwrap();
    // Everything the page loads comes from this server.
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    for (asset, content_type) in [
        (
            "/docs/swagger-ui-bundle.js",
            "text/javascript; charset=utf-8",
        ),
        ("/docs/swagger-ui.css", "text/css; charset=utf-8"),
        (
            "/docs/swagger-initializer.js",
            "text/javascript; charset=utf-8",
        ),
        ("/docs/favicon-32x32.png", "image/png"),
        ("/docs/", "text/html; charset=utf-8"),
    ] {
        let answer = app.get(asset).await;
        assert_eq!(
            (answer.status, answer.content_type.as_str()),
            (200, content_type),
            "{asset}"
        );
    }
    for missing in [
        "/docs/missing.js",
        "/docs/../Cargo.toml",
        "/docs/a/b/c",
        "/docs/swagger-ui-bundle.js.map",
        "/docs/%00",
        "/docs/%FF%FE",
    ] {
        let answer = app.get(missing).await;
        assert!(
            answer.status == 404 || answer.status == 400,
            "{missing}: {}",
            answer.status
        );
        assert_eq!(answer.content_type, "application/problem+json", "{missing}");
    }
}

#[actix_web::test]
async fn the_docs_page_may_load_only_from_this_origin() {
    let app = TestApp::spawn().await;
    for path in [
        "/docs",
        "/docs/",
        "/docs/index.html",
        "/docs/swagger-ui-bundle.js",
    ] {
        let answer = app.get(path).await;
        assert_eq!(
            (answer.status, answer.header("content-security-policy")),
            (
                200,
                Some(
                    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
                )
            ),
            "{path}"
        );
    }
}

#[actix_web::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let sent = app
        .request_with("GET", "/healthz", &[("X-Request-Id", "dashboard-42:a/b")])
        .await;
    assert_eq!(sent.request_id.as_deref(), Some("dashboard-42:a/b"));
    // Odd or long ids are replaced, since they end up in logs.
    let mut seen = std::collections::HashSet::new();
    for (method, path, headers, status) in [
        ("GET", "/healthz", vec![("X-Request-Id", "has space")], 200),
        (
            "GET",
            "/healthz",
            vec![("X-Request-Id", &*"x".repeat(129))],
            200,
        ),
        ("GET", "/nowhere", vec![], 404),
        ("GET", "/healthz?x=1", vec![], 400),
        ("POST", "/healthz", vec![], 405),
        ("GET", "/metrics", vec![], 200),
    ] {
        let answer = app.request_with(method, path, &headers).await;
        let id = answer.request_id.expect("a request id");
        assert_eq!(answer.status, status, "{method} {path}");
        assert!(id.len() <= 128 && !id.contains(' '), "{id}");
        assert!(seen.insert(id), "ids are unique");
    }
}

#[actix_web::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn().await;
    for path in [
        "/healthz",
        "/healthz",
        "/healthz?x=1",
        "/nowhere",
        "/readyz",
    ] {
        app.get(path).await;
    }
    let metrics = app.get("/metrics").await;
    assert_eq!(
        (metrics.status, metrics.content_type.as_str()),
        (200, "text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(metrics.body).unwrap();
    let lines = |prefix: &str| -> Vec<&str> {
        text.lines()
            .filter(|line| line.starts_with(prefix))
            .collect()
    };
    assert_eq!(
        lines("insights_http_requests_total{"),
        [
            r#"insights_http_requests_total{route="/healthz",status="200"} 2"#,
            r#"insights_http_requests_total{route="/healthz",status="400"} 1"#,
            r#"insights_http_requests_total{route="/readyz",status="200"} 1"#,
            r#"insights_http_requests_total{route="unmatched",status="404"} 1"#,
        ]
    );
    assert_eq!(
        lines("insights_http_request_duration_seconds_count{route=\"/healthz\"}"),
        [r#"insights_http_request_duration_seconds_count{route="/healthz"} 3"#]
    );
    assert_eq!(
        lines("insights_timeseries_"),
        [
            "insights_timeseries_samples_loaded 51840",
            "insights_timeseries_series_loaded 36"
        ]
    );
    // The embedded store has no pool or cache to report.
    assert_eq!(lines("insights_db_pool"), Vec::<&str>::new());
    assert_eq!(
        lines("insights_http_requests_in_flight"),
        ["insights_http_requests_in_flight 1"]
    );
}

#[actix_web::test]
async fn a_panicking_handler_is_a_500_problem_and_the_worker_lives_on() {
    use actix_web::{test, web, App};
    use insights_core::InMemoryMetadata;
    use insights_http::{middleware, AppState, MetadataStore, SeriesStore};

    let state = web::Data::new(AppState::new(
        MetadataStore::new(InMemoryMetadata::seed()),
        SeriesStore::shared(crate::support::shipped_timeseries()),
    ));
    let observed = state.clone();
    // No route of the service panics on any input (tests/it/extremes.rs in the core); these
    // stand in for a bug, in the handler's future and before it.
    async fn in_the_future() -> &'static str {
        panic!("deliberately, in a test");
    }
    let app = test::init_service(
        App::new()
            .app_data(state.clone())
            .wrap_fn(move |request, service| middleware::observe(&observed, request, service))
            .route("/panics", web::get().to(in_the_future))
            .route("/fine", web::get().to(|| async { "fine" })),
    )
    .await;
    // The middleware answers with an error that carries the whole response, which the
    // server renders as it is.
    let error = test::try_call_service(&app, test::TestRequest::get().uri("/panics").to_request())
        .await
        .expect_err("an error that carries the answer");
    let response = error.error_response();
    assert_eq!(response.status(), 500);
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let bytes = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        body,
        json!({
            "type": "about:blank",
            "title": "Internal Server Error",
            "status": 500,
            "detail": "The service failed unexpectedly."
        })
    );
    let response =
        test::call_service(&app, test::TestRequest::get().uri("/fine").to_request()).await;
    assert_eq!(response.status(), 200);
}

#[actix_web::test]
async fn a_new_route_is_counted_under_its_own_pattern() {
    use actix_web::{test, web, App};
    use insights_core::InMemoryMetadata;
    use insights_http::{middleware, AppState, MetadataStore, SeriesStore};

    let state = web::Data::new(AppState::new(
        MetadataStore::new(InMemoryMetadata::seed()),
        SeriesStore::shared(crate::support::shipped_timeseries()),
    ));
    let observed = state.clone();
    // A route added as a newcomer would add one: nothing else is told about it.
    let app = test::init_service(
        App::new()
            .wrap_fn(move |request, service| middleware::observe(&observed, request, service))
            .route(
                "/v1/sensors/{sensor_id}/usage",
                web::get().to(|| async { "new" }),
            ),
    )
    .await;
    for path in ["/v1/sensors/a/usage", "/v1/sensors/b/usage", "/nowhere"] {
        test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
    }
    let text = state.metrics.render(&state.snapshot());
    assert!(
        text.contains(
            r#"insights_http_requests_total{route="/v1/sensors/{sensor_id}/usage",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"insights_http_requests_total{route="unmatched",status="404"} 1"#),
        "{text}"
    );
}
