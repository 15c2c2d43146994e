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
