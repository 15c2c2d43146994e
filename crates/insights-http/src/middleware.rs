//! The middleware every request passes first: it gives the request an id and a span, turns
//! away paths that escape unreserved characters and query strings over the limit, checks the API key on data routes before any parsing
//! and draws the caller's request from its rate limit (`ratelimit`),
//! turns a handler's panic into a 500 problem, counts the answer in the metrics and writes
//! the request's log line; and `head_as_get` answers HEAD on every GET route. (The request
//! timeout is applied around the handlers' work, in `routes` and `compute`, because a
//! response needs the routed request, which only the handler has.)

use std::cell::Cell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, HttpMessage, ResponseError};
use futures_util::FutureExt;
use tracing::Instrument;

use crate::auth::tenant_scope;
use crate::error::ApiError;
use crate::metrics::LimitedCaller;
use crate::ratelimit::{self, Decision, Subject};
use crate::state::AppState;
use insights_core::Scope;

/// How many requests the application is answering on one connection. The middleware holds
/// an [`Answering`] for each; `connection::Guarded` reads the count. A connection lives on one worker
/// thread, so a plain shared cell serves.
#[derive(Clone, Debug, Default)]
pub struct InFlight(Rc<Cell<usize>>);

/// One request being answered, counted in its connection's [`InFlight`] until dropped.
#[derive(Debug)]
pub struct Answering(InFlight);

impl InFlight {
    /// Counts a request as being answered until the guard is dropped.
    pub fn answering(&self) -> Answering {
        self.0.set(self.0.get() + 1);
        Answering(self.clone())
    }

    /// Whether no request is being answered.
    pub fn idle(&self) -> bool {
        self.0.get() == 0
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        let count = &(self.0).0;
        count.set(count.get().saturating_sub(1));
    }
}

/// The service a middleware here wraps: the rest of the stack, answering a routed request.
/// One name for the bounds every middleware function repeats.
pub trait Wrapped<B>:
    Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error, Future: 'static>
{
}

impl<S, B> Wrapped<B> for S where
    S: Service<
        ServiceRequest,
        Response = ServiceResponse<B>,
        Error = actix_web::Error,
        Future: 'static,
    >
{
}

/// What a middleware function's future gives: the response, its body boxed, or an error.
pub type Answered = Result<ServiceResponse<BoxBody>, actix_web::Error>;

/// Every path that serves a tenant's data starts so; the middleware authenticates them all.
pub const DATA_ROUTES: &str = "/v1/";

/// The header that carries the request id both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id accepted from a client; a longer or odd one is replaced.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Why a request got no further than the middleware.
enum Refused {
    /// A cheap check failed before routing.
    Early(ServiceRequest, ApiError),
    /// Routing or the handler panicked before returning its future.
    Panicked,
}

/// Wraps one request; see the module documentation.
pub fn observe<S: Wrapped<B>, B: MessageBody + 'static>(
    state: &web::Data<AppState>,
    request: ServiceRequest,
    service: &S,
) -> impl Future<Output = Answered> + 'static {
    let started = Instant::now();
    // Counted on the connection until the answer is given, so that its guard waits for the
    // service, not the client, meanwhile (see `connection`).
    let answering = request.conn_data::<InFlight>().map(InFlight::answering);
    let state = state.clone();
    let request_id =
        accepted_request_id(request.headers().get(&REQUEST_ID)).unwrap_or_else(new_request_id);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        path = %request.path()
    );
    let query_length = request.query_string().len();
    let limit = state.limits.max_query_bytes;
    // The cheap refusals come first: a query over the limit, then, on data routes, a
    // request without a valid key, before any parsing or lookup is spent on it.
    let mut rate_headers = None;
    let refusal = if escapes_unreserved(request.path()) {
        // The router decodes percent-escapes before it matches; everything else here reads
        // the path as sent. Only an escaped letter, digit or `-._~` can spell a route's
        // literal part, so refusing those keeps the two one path: no spelling of `/v1/`
        // routes past the key check. (`%2F` stays escaped for the router too.)
        Some(ApiError::EncodedPath)
    } else if query_length > limit {
        Some(ApiError::QueryTooLong {
            length: query_length,
            limit,
        })
    } else if request.path().starts_with(DATA_ROUTES) {
        match tenant_scope(state.keys.as_ref(), request.headers()) {
            Ok((scope, key)) => {
                request.extensions_mut().insert(scope);
                let subject = match key {
                    Some(key) => Some(Subject::Key(key.index)),
                    None => request.peer_addr().map(|peer| Subject::Address(peer.ip())),
                };
                if let Some(subject) = subject {
                    // Admission shares heavy work out between the same callers.
                    request.extensions_mut().insert(subject);
                }
                match subject.map(|subject| state.rate_limits.check(subject)) {
                    Some(Decision::Limited { rate, retry_after }) => {
                        state.metrics.record_rate_limited(match scope {
                            Scope::All => LimitedCaller::Address,
                            Scope::Brand(_) => LimitedCaller::Brand,
                            Scope::Organization(_) => LimitedCaller::Organization,
                        });
                        Some(ApiError::RateLimited { rate, retry_after })
                    }
                    Some(Decision::Allowed {
                        rate,
                        remaining,
                        reset_seconds,
                    }) => {
                        rate_headers = Some(ratelimit::headers(rate, remaining, reset_seconds));
                        None
                    }
                    Some(Decision::Unlimited) | None => None,
                }
            }
            Err(error) => Some(error),
        }
    } else {
        None
    };
    let pending = match refusal {
        Some(error) => Err(Refused::Early(request, error)),
        None => span.in_scope(|| {
            std::panic::catch_unwind(AssertUnwindSafe(|| service.call(request)))
                .map_err(|_| Refused::Panicked)
                .map(|pending| AssertUnwindSafe(pending).catch_unwind())
        }),
    };
    async move {
        let in_flight = state.metrics.start();
        // The last defence: a panic in a handler becomes a 500 problem+json, and the
        // connection and its worker live on. The panic hook (see `install_panic_hook`)
        // logged it once; no input is known to reach it (`tests/it/extremes.rs`).
        let answered = match pending {
            Err(Refused::Early(request, error)) => {
                Ok(request.into_response(error.error_response()))
            }
            Err(Refused::Panicked) => Err(()),
            Ok(pending) => match pending.await {
                Ok(answer) => Ok(answer?.map_into_boxed_body()),
                Err(_) => Err(()),
            },
        };
        drop((in_flight, answering));
        let elapsed = started.elapsed();
        let log = |status: u16| {
            tracing::info!(
                status,
                elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                "request"
            );
        };
        let request_id = HeaderValue::from_str(&request_id).ok();
        let mut response = match answered {
            Ok(response) => response,
            Err(()) => {
                // The request went into the handler and cannot be had back, so the answer
                // leaves as an error that carries its whole response; actix renders it.
                let mut answer = ApiError::Panicked.error_response();
                if let Some(value) = request_id {
                    answer.headers_mut().insert(REQUEST_ID, value);
                }
                state.metrics.record(None, 500, elapsed);
                log(500);
                return Err(InternalError::from_response("panicked", answer).into());
            }
        };
        let status = response.status().as_u16();
        state.metrics.record(
            response.request().match_pattern().as_deref(),
            status,
            elapsed,
        );
        if let Some(value) = request_id {
            response.headers_mut().insert(REQUEST_ID, value);
        }
        for (name, value) in rate_headers.into_iter().flatten() {
            response.headers_mut().insert(name, value);
        }
        log(status);
        Ok(response)
    }
    .instrument(span)
}

/// Whether `path` percent-escapes an unreserved character (RFC 3986: letters, digits and
/// `-._~`), which URI producers should never escape.
fn escapes_unreserved(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.windows(3).any(|window| {
        let hex = |digit: u8| char::from(digit).to_digit(16);
        match (window[0], hex(window[1]), hex(window[2])) {
            (b'%', Some(high), Some(low)) => {
                let byte = u8::try_from(high * 16 + low).unwrap_or(0);
                byte.is_ascii_alphanumeric() || b"-._~".contains(&byte)
            }
            _ => false,
        }
    })
}

/// A client's request id, if it is short and made of safe characters; ids end up in logs,
/// so anything else is replaced rather than trusted.
fn accepted_request_id(value: Option<&HeaderValue>) -> Option<String> {
    let text = value?.to_str().ok()?;
    let safe = |byte: u8| byte.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&byte);
    (!text.is_empty() && text.len() <= MAX_REQUEST_ID_LEN && text.bytes().all(safe))
        .then(|| text.to_owned())
}

/// A new id: random per process, then a counter, so ids are unique without a syscall each.
pub(crate) fn new_request_id() -> String {
    static PROCESS: OnceLock<String> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let process =
        PROCESS.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    format!("{process}-{:010}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Answers HEAD on every GET route (RFC 9110): the request is routed as a GET, and the
/// HTTP/1 encoder, which noted the method on the wire, sends the headers without the body.
pub fn head_as_get<S: Wrapped<B>, B>(
    mut request: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + 'static {
    if request.method() == actix_web::http::Method::HEAD {
        request.head_mut().method = actix_web::http::Method::GET;
    }
    service.call(request)
}

/// Logs every panic as one event (one JSON object in JSON mode), with its message and
/// location, in place of the default multi-line text on stderr. The request's span, when the
/// panic happens inside one, adds the request id.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(a panic without a message)");
        let location = info
            .location()
            .map(|location| format!("{}:{}", location.file(), location.line()))
            .unwrap_or_default();
        tracing::error!(panic = message, %location, "panicked; a request meeting it is answered 500");
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(header: Option<&str>, expected: Option<&str>) {
        let value = header.map(|text| HeaderValue::from_str(text).unwrap());
        assert_eq!(
            accepted_request_id(value.as_ref()).as_deref(),
            expected,
            "{header:?}"
        );
    }

    #[test]
    fn accepts_safe_request_ids_only() {
        check(None, None);
        check(Some("abc-123"), Some("abc-123"));
        check(
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        check(Some(""), None);
        check(Some("two words"), None);
        check(Some("quote\"d"), None);
        check(Some(&"x".repeat(128)), Some(&"x".repeat(128)));
        check(Some(&"x".repeat(129)), None);
    }

    #[test]
    fn finds_escaped_unreserved_characters_in_either_case_of_hex() {
        fn check(path: &str, expected: bool) {
            assert_eq!(escapes_unreserved(path), expected, "{path}");
        }
        check("/v1/insights/data-range", false);
        check("/%761/insights", true);
        check("/v1/usag%65", true);
        check("/v1/usag%4A", true);
        check("/v1/usag%4a", true);
        check("/v1/%2D%2e%5F%7e", true);
        check("/v1%2Finsights", false);
        check("/v1/%27%20OR%201%3D1--", false);
        check("/v1/%zz%4", false);
        check("/v1/%", false);
    }

    #[test]
    fn new_request_ids_differ() {
        let first = new_request_id();
        let second = new_request_id();
        assert_ne!(first, second);
        assert_eq!(first.len(), 23);
        assert!(accepted_request_id(Some(&HeaderValue::from_str(&first).unwrap())).is_some());
    }
}
