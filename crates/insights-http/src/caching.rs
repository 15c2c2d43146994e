//! HTTP caching of the API's answers. Every `200` under `/v1/` carries a strong `ETag`, a
//! digest of the exact bytes, so it changes exactly when the answer does: late samples the
//! import adds to a window, a rename in the monolith's metadata. `If-None-Match` with a
//! matching tag is answered `304` with no body. `Cache-Control` says how long a cache may
//! reuse an answer unasked: long for a window that closed before the latest sample, short
//! for everything else; `private` when API keys are on, with `Vary: Authorization`.

use std::future::Future;

use actix_web::body::{self, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};

use crate::middleware::{Answered, Wrapped, DATA_ROUTES};
use crate::state::AppState;

/// Seconds a cache may reuse the usage of a window that ended at or before the latest
/// sample of its circuits: only a late sample changes it, and revalidation catches that.
pub const SETTLED_MAX_AGE_S: u32 = 300;

/// Seconds a cache may reuse any other answer: a window still filling, metadata, the brand
/// list and data ranges, which every import or metadata change may move.
pub const LIVE_MAX_AGE_S: u32 = 10;

/// The mark of a usage answer written and tagged where it was computed (`answer`): its media
/// type and entity tag. [`conditional`] takes the tag rather than hash the bytes again, and
/// the CSV middleware leaves the answer in the format it was written in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// `application/json`, or CSV's media type.
    pub content_type: &'static str,
    /// The strong entity tag of the bytes ([`entity_tag`]).
    pub tag: String,
}

/// How settled an answer is; a handler marks its request with one, and `Live` is assumed
/// where none is marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// A window that closed before the latest sample of its circuits.
    Settled,
    /// Anything that the next sample or metadata change may alter.
    Live,
}

/// Records how settled the request's answer is, for [`conditional`].
pub fn mark(request: &HttpRequest, freshness: Freshness) {
    request.extensions_mut().insert(freshness);
}

/// The `Cache-Control` value for an answer. Four values in all, so they are constants
/// rather than written for each answer; a test checks them against the ages above.
pub fn cache_control(freshness: Freshness, keys_on: bool) -> &'static str {
    match (freshness, keys_on) {
        (Freshness::Settled, false) => "public, max-age=300",
        (Freshness::Live, false) => "public, max-age=10",
        (Freshness::Settled, true) => "private, max-age=300",
        (Freshness::Live, true) => "private, max-age=10",
    }
}

/// The strong entity tag of an answer's bytes: their 128-bit XXH3, in hex.
///
/// A tag only has to change when the bytes do; nothing trusts it against forgery (a client
/// sends back the tag it was given, to learn whether its own copy is current). Under load
/// SHA-256 took about 0.45 µs of a circuit's answer and XXH3 takes about 0.05 µs
/// (`perf record` of the server, docs/performance.md).
pub fn entity_tag(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = xxhash_rust::xxh3::xxh3_128(bytes).to_be_bytes();
    // By hand rather than with `format!` per byte, which cost a tenth of a small answer's
    // time under load.
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for byte in &digest {
        tag.push(char::from(HEX[usize::from(byte >> 4)]));
        tag.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    tag.push('"');
    tag
}

/// Whether `If-None-Match` names `tag`: `*`, or any listed tag equal to it under the weak
/// comparison RFC 9110 prescribes for this header (`W/` ignored).
pub fn none_match(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|listed| listed == "*" || listed.strip_prefix("W/").unwrap_or(listed) == tag)
}

/// Adds the validators and cache headers to every `200` of a GET under `/v1/`, and answers
/// `304` when the client already holds those bytes.
pub fn conditional<S: Wrapped<B>, B: MessageBody + 'static>(
    request: ServiceRequest,
    service: &S,
) -> impl Future<Output = Answered> + 'static {
    // `head_as_get` runs outside this, so HEAD arrives here as GET.
    let cacheable = request.method() == Method::GET && request.path().starts_with(DATA_ROUTES);
    let keys_on = request
        .app_data::<web::Data<AppState>>()
        .is_some_and(|state| state.keys.is_some());
    let answer = service.call(request);
    async move {
        let response = answer.await?;
        if !cacheable || response.status() != StatusCode::OK {
            return Ok(response.map_into_boxed_body());
        }
        let (request, response) = response.into_parts();
        // A usage answer comes written, with its tag (`answer`).
        let prepared = response
            .extensions()
            .get::<Prepared>()
            .map(|mark| mark.tag.clone());
        let (head, body) = response.into_parts();
        let (tag, body) = match prepared {
            // Its bytes pass on as they are: no copy of a large answer is made here.
            Some(tag) => (tag, BoxBody::new(body)),
            None => {
                // The answers are built in memory already, so collecting them costs one copy.
                let bytes = body::to_bytes(body)
                    .await
                    .map_err(|error| actix_web::error::ErrorInternalServerError(error.into()))?;
                (entity_tag(&bytes), BoxBody::new(bytes))
            }
        };
        let freshness = request
            .extensions()
            .get::<Freshness>()
            .copied()
            .unwrap_or(Freshness::Live);
        let not_modified = none_match(request.headers(), &tag);
        let mut response = if not_modified {
            let mut bare = HttpResponse::NotModified().finish();
            // The handler's other headers travel on a 304 too; those about the body do not.
            for (name, value) in head.headers() {
                let about_the_body = name == header::CONTENT_TYPE || name == header::CONTENT_LENGTH;
                if !about_the_body {
                    bare.headers_mut().append(name.clone(), value.clone());
                }
            }
            bare
        } else {
            head.set_body(body)
        };
        let headers = response.headers_mut();
        let value = |text: &str| {
            HeaderValue::from_str(text).map_err(actix_web::error::ErrorInternalServerError)
        };
        headers.insert(header::ETAG, value(&tag)?);
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control(freshness, keys_on)),
        );
        if keys_on {
            headers.append(header::VARY, HeaderValue::from_static("Authorization"));
        }
        Ok(ServiceResponse::new(request, response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(if_none_match: &[&str], tag: &str, expected: bool) {
        let mut headers = HeaderMap::new();
        for value in if_none_match {
            headers.append(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        }
        assert_eq!(none_match(&headers, tag), expected, "{if_none_match:?}");
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_stars() {
        let tag = "\"abc\"";
        check(&[], tag, false);
        check(&["\"abc\""], tag, true);
        check(&["W/\"abc\""], tag, true);
        check(&["\"x\", \"abc\""], tag, true);
        check(&["\"x\"", "\"abc\""], tag, true);
        check(&["*"], tag, true);
        check(&["\"abcd\""], tag, false);
        check(&["abc"], tag, false);
        check(&["\"ABC\""], tag, false);
    }

    #[test]
    fn tags_are_strong_quoted_and_follow_the_bytes() {
        let tag = entity_tag(b"{}");
        // XXH3-128("{}") in lower-case hex, as the reference implementation (Python's
        // `xxhash.xxh3_128_hexdigest`) writes it.
        assert_eq!(tag, "\"dc7048f8f8747f561349cde127705c16\"");
        assert_eq!(tag, entity_tag(b"{}"));
        assert_ne!(tag, entity_tag(b"{} "));
    }

    #[test]
    fn cache_control_is_private_with_keys_and_longer_when_settled() {
        assert_eq!(
            cache_control(Freshness::Settled, false),
            "public, max-age=300"
        );
        assert_eq!(cache_control(Freshness::Live, false), "public, max-age=10");
        assert_eq!(
            cache_control(Freshness::Settled, true),
            "private, max-age=300"
        );
        // Every constant names the age its freshness is documented with.
        for (freshness, max_age) in [
            (Freshness::Settled, SETTLED_MAX_AGE_S),
            (Freshness::Live, LIVE_MAX_AGE_S),
        ] {
            for (keys_on, audience) in [(false, "public"), (true, "private")] {
                assert_eq!(
                    cache_control(freshness, keys_on),
                    format!("{audience}, max-age={max_age}")
                );
            }
        }
    }
}
