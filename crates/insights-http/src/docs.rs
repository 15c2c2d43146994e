//! The interactive API docs at `/docs`: a vendored Swagger UI (see `assets/swagger-ui/VERSION`),
//! embedded in the binary so the page needs no internet.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::problem_response;
use crate::extract::NoQuery;

/// The files under `/docs/`.
const ASSETS: &[Embedded] = embedded_files!("swagger-ui": "index.html", "swagger-initializer.js", "swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png");

/// Swagger UI's bundle, stylesheet and initializer are files of this origin, as is the
/// OpenAPI document it fetches and the API that "Try it out" calls; its stylesheet's icons are
/// `data:` images. It needs no inline script or style (React sets styles through the DOM,
/// which `style-src` does not govern) and no `eval`. Nothing may frame the page. The dashboard
/// keeps to the same policy: everything it loads comes from this origin.
pub(crate) const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Registers `/docs` and every path under it.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/docs", web::get().to(index))
        .route("/docs/{file:.*}", web::get().to(asset));
}

async fn index(_query: NoQuery) -> HttpResponse {
    serve("index.html").unwrap_or_else(|| {
        problem_response(StatusCode::NOT_FOUND, "the docs page is missing", None)
    })
}

async fn asset(request: HttpRequest, _query: NoQuery) -> HttpResponse {
    let file = request.match_info().get("file").unwrap_or_default();
    let file = if file.is_empty() { "index.html" } else { file };
    serve(file).unwrap_or_else(|| {
        problem_response(
            StatusCode::NOT_FOUND,
            &format!("no docs file {file:?}"),
            None,
        )
    })
}

fn serve(file: &str) -> Option<HttpResponse> {
    let mut response = serve_embedded(ASSETS, file, "public, max-age=3600")?;
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    Some(response)
}

/// An embedded file: its name under its page's path, and its bytes.
pub(crate) type Embedded = (&'static str, &'static [u8]);

/// The files named, from `assets/$dir/`, embedded in the binary, as [`Embedded`]s.
macro_rules! embedded_files {
    ($dir:literal: $($file:literal),+ $(,)?) => {
        &[$(($file, include_bytes!(concat!("../assets/", $dir, "/", $file)))),+]
    };
}
pub(crate) use embedded_files;

/// The media type of an embedded file, by its extension; a file of another kind is served as
/// bytes.
fn media_type(file: &str) -> &'static str {
    match file.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// One of `assets` as a response with its media type and `cache_control`; `None` when no
/// asset has that name.
pub(crate) fn serve_embedded(
    assets: &[Embedded],
    file: &str,
    cache_control: &'static str,
) -> Option<HttpResponse> {
    let (_, bytes) = assets.iter().find(|(name, _)| *name == file)?;
    Some(
        HttpResponse::Ok()
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static(media_type(file)),
            ))
            .insert_header((
                header::CACHE_CONTROL,
                HeaderValue::from_static(cache_control),
            ))
            .insert_header((
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .body(*bytes),
    )
}
