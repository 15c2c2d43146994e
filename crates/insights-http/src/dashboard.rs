//! The dashboard at `/`: a static page and script over the public API, with uPlot vendored
//! from npm (`assets/dashboard/vendor/VERSION`), embedded in the binary so it works offline.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::docs::{embedded_files, serve_embedded, Embedded, CONTENT_SECURITY_POLICY};
use crate::error::problem_response;

/// The files under `/dashboard/`.
const ASSETS: &[Embedded] = embedded_files!("dashboard": "index.html", "dashboard.js", "dashboard.css", "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css");

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
