//! The Insights Service HTTP API: actix-web handlers over `insights-core`, documented with
//! paperclip. This crate is the only composition root: it picks the adapters and wires them.
//!
//! [`run`] serves an [`AppState`] on a bound listener, so tests can bind port 0.
//! [`startup::Application::build`] is the composition itself: from [`Settings`] it builds the
//! stores, the state and the listener, and calls [`run`]; `main` reads the settings, sets up
//! logging and serves what it builds, and the HTTP tests spawn it too.

pub mod admission;
pub mod answer;
pub mod auth;
pub mod caching;
pub mod compute;
pub mod connection;
pub mod csv_export;
pub mod dashboard;
pub mod docs;
pub mod dto;
pub mod error;
pub mod extract;
pub mod healthcheck;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod params;
pub mod ratelimit;
pub mod routes;
pub mod settings;
pub mod startup;
pub mod state;
mod wording;

use std::net::TcpListener;

use actix_service::{IntoServiceFactory, ServiceFactoryExt};
use actix_web::body::EitherBody;
use actix_web::dev::{Server, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, App, HttpResponse};
use paperclip::actix::OpenApiExt;

pub use crate::openapi::ApiDocs;
pub use crate::settings::{Limits, LogFormat, Settings, SettingsError};
pub use crate::state::{AppState, MetadataStore, SeriesStore};

/// Serves the API on `listener` until the returned server is stopped.
///
/// SIGTERM and SIGINT stop it gracefully: the listener closes at once, and requests in
/// flight get `limits.shutdown_timeout` to finish.
///
/// The server is assembled from actix-server and actix-http rather than `HttpServer`, so
/// that each connection's stream can be [`connection::Guarded`]: `HttpServer` offers no way
/// to wrap it, and without that a stalled client holds a connection open for ever.
pub fn run(
    listener: TcpListener,
    state: web::Data<AppState>,
    docs: web::Data<ApiDocs>,
) -> std::io::Result<Server> {
    let limits = state.limits.clone();
    // actix counts connections per worker; the setting is for the whole process.
    let connections_per_worker = limits.max_connections.div_ceil(limits.workers).max(1);
    let addr = listener.local_addr()?;
    let counted = state.clone();
    // The dispatcher's own error answers: counted and logged like the application's, at
    // WARN since a client's malformed request is no fault of the service.
    let on_bare_error: connection::OnBareError = std::sync::Arc::new(move |status, request_id| {
        counted
            .metrics
            .record(None, status, std::time::Duration::ZERO);
        tracing::warn!(
            status,
            request_id,
            "answered a request the server could not read"
        );
    });
    let app = move || {
        let observed = state.clone();
        App::new()
            .app_data(state.clone())
            .app_data(docs.clone())
            .wrap_fn(|request, service| {
                csv_export::negotiate(request, service, routes::answers_csv)
            })
            .wrap_fn(caching::conditional)
            .wrap_fn(middleware::head_as_get)
            .wrap(ErrorHandlers::new().default_handler(into_problem))
            .wrap_fn(move |request, service| middleware::observe(&observed, request, service))
            .wrap_api()
            .configure(routes::configure)
            .build()
            .route("/metrics", web::get().to(routes::metrics))
            .route("/openapi.json", web::get().to(openapi_v3))
            .route("/openapi/v2.json", web::get().to(openapi_v2))
            .configure(docs::configure)
            .configure(dashboard::configure)
            .default_service(web::to(routes::not_found))
    };
    let server = actix_server::Server::build()
        .workers(limits.workers)
        .max_concurrent_connections(connections_per_worker)
        .shutdown_timeout(limits.shutdown_timeout.as_secs())
        .shutdown_signal(stop_signal())
        .listen("insights", listener, move || {
            let client_timeout = limits.client_timeout;
            let http = actix_http::HttpService::build()
                .keep_alive(limits.keep_alive)
                .client_request_timeout(client_timeout)
                .client_disconnect_timeout(std::time::Duration::from_secs(1))
                .local_addr(addr)
                // The middleware counts each request being answered there, so the stream
                // knows when the client, not the service, is the one to wait for.
                .on_connect_ext(|stream: &connection::Guarded, data| {
                    data.insert(stream.in_flight());
                })
                .finish(actix_service::map_config(
                    app().into_factory().map_err(|error| error.error_response()),
                    // Only URL generation and requests without a Host header read it,
                    // and the service does neither; its constructor is not public.
                    |_| actix_web::dev::AppConfig::default(),
                ));
            let on_bare_error = on_bare_error.clone();
            actix_service::fn_service(move |stream: tokio::net::TcpStream| {
                let on_bare_error = on_bare_error.clone();
                async move {
                    let _ = stream.set_nodelay(true);
                    let peer = stream.peer_addr().ok();
                    Ok::<_, actix_http::error::DispatchError>((
                        connection::Guarded::new(stream, client_timeout, on_bare_error),
                        actix_http::Protocol::Http1,
                        peer,
                    ))
                }
            })
            .and_then(http)
        })?
        .run();
    Ok(server)
}

/// Resolves on SIGTERM or SIGINT. actix-web would stop at once on SIGINT; operators and
/// orchestrators expect both to let requests in flight finish.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                let name = tokio::select! {
                    _ = terminate.recv() => "SIGTERM",
                    _ = interrupt.recv() => "SIGINT",
                };
                tracing::info!(
                    signal = name,
                    "stopping: no new connections; requests in flight may finish"
                );
            }
            (Err(error), _) | (_, Err(error)) => {
                tracing::error!(%error, "cannot listen for SIGTERM and SIGINT; stop the process by other means");
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("stopping: no new connections; requests in flight may finish");
        } else {
            std::future::pending::<()>().await;
        }
    }
}

async fn openapi_v3(docs: web::Data<ApiDocs>, _query: extract::NoQuery) -> HttpResponse {
    json_document(&docs.v3)
}

async fn openapi_v2(docs: web::Data<ApiDocs>, _query: extract::NoQuery) -> HttpResponse {
    json_document(&docs.v2)
}

fn json_document(text: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(text.to_owned())
}

/// Turns the framework's bare error responses into problem details.
fn into_problem<B>(response: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    match routes::problem_for_bare_error(response.request(), response.response()) {
        None => Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        )),
        Some(problem) => {
            let (request, _) = response.into_parts();
            let response: ServiceResponse<EitherBody<B>> =
                ServiceResponse::new(request, problem).map_into_right_body();
            Ok(ErrorHandlerResponse::Response(response))
        }
    }
}
