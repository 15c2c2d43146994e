//! The dashboard at `/`: a static page and script over the public API, with uPlot vendored
//! from npm (`assets/dashboard/vendor/VERSION`), embedded in the binary so it works offline.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::docs::serve_embedded;
use crate::error::problem_response;

/// The files under `/dashboard/`, with their media types.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../assets/dashboard/index.html"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/dashboard/dashboard.js"),
    ),
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/dashboard/dashboard.css"),
    ),
    (
        "vendor/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/dashboard/vendor/uPlot.iife.min.js"),
    ),
    (
        "vendor/uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/dashboard/vendor/uPlot.min.css"),
    ),
];

/// Everything the page loads comes from this origin; nothing may frame it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// A new release changes the files; `no-cache` makes browsers ask each time.
const CACHE_CONTROL: &str = "no-cache";

/// Registers `/` and `/dashboard/...`.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(index))
        .route("/dashboard/{file:.*}", web::get().to(asset));
}

/// The page itself; its query string is the page's own state, read by its script.
async fn index() -> HttpResponse {
    let mut response = serve("index.html");
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response
}

async fn asset(request: HttpRequest) -> HttpResponse {
    let file = request.match_info().get("file").unwrap_or_default();
    if file == "index.html" {
        return index().await;
    }
    serve(file)
}

fn serve(file: &str) -> HttpResponse {
    serve_embedded(ASSETS, file, CACHE_CONTROL).unwrap_or_else(|| {
        problem_response(
            StatusCode::NOT_FOUND,
            &format!("no dashboard file {file:?}"),
            None,
        )
    })
}
