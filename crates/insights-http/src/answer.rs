//! Usage answers made whole where their work runs: serialized to JSON, converted to CSV when
//! asked for, and tagged. For heavy work that is the compute pool rather than the workers
//! that serve connections: a large answer (megabytes of minute buckets) takes milliseconds to
//! write, and tens of milliseconds as CSV, and on a worker that is time every other request
//! on it waits. A prepared answer carries its `caching::Prepared` mark in the response's
//! extensions, so the caching middleware passes it on as it is and takes its entity tag
//! rather than copy the bytes to hash them again. An answer longer than [`CHUNK`] claims its
//! buffer's capacity of admission's answer budget and goes to the server a chunk at a time
//! ([`ClaimedBody`]), so the claim lasts as long as its bytes do.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, Responder};
use paperclip::actix::web::Json;
use paperclip::actix::OperationModifier;
use paperclip::v2::models::{DefaultOperationRaw, DefaultSchemaRaw};
use paperclip::v2::schema::Apiv2Schema;
use serde::Serialize;

use crate::admission::{Admission, AnswerClaim};
use crate::caching::Prepared;
use crate::csv_export::{to_csv, TEXT_CSV};
use crate::error::ApiError;

/// A usage answer written already, in its format, with its tag. `T` is the value it was
/// written from, which the API documents describe.
pub struct Answer<T> {
    bytes: Vec<u8>,
    prepared: Prepared,
    /// A long answer's share of the answer budget ([`Answer::claiming`]).
    claim: Option<AnswerClaim>,
    written_from: PhantomData<fn() -> T>,
}

/// The most of a long answer handed to the server at once. Given a whole answer, actix copies
/// all of it into the connection's write buffer, where it stays until the client has read it,
/// accounted for by nothing; given chunks, it asks for the next once its buffer is below 32
/// KiB, so the rest stays in the answer, claimed.
pub const CHUNK: usize = 64 * 1024;

/// The format a request asks its answer in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JSON, the default.
    Json,
    /// CSV (`csv_export`).
    Csv,
}

impl Format {
    /// Every format, in the order of `params::FORMAT_NAMES`.
    pub const ALL: [Format; 2] = [Format::Json, Format::Csv];

    /// Reads a format's name, as `format` takes it.
    pub fn parse(text: &str) -> Option<Format> {
        crate::params::FORMAT_NAMES
            .iter()
            .position(|name| *name == text)
            .map(|index| Format::ALL[index])
    }

    /// What a request without `format` asks for by its `Accept` header
    /// (`csv_export::prefers_csv`).
    pub fn accepted(headers: &HeaderMap) -> Format {
        if crate::csv_export::prefers_csv(headers) {
            Format::Csv
        } else {
            Format::Json
        }
    }
}

impl<T: Serialize> Answer<T> {
    /// Writes `value` in `format` and tags the bytes.
    pub fn prepare(value: &T, format: Format) -> Result<Answer<T>, ApiError> {
        let failed = |what: &str, error: &dyn std::fmt::Display| ApiError::Internal {
            cause: format!("writing an answer as {what}: {error}"),
        };
        let (bytes, content_type) = match format {
            Format::Json => (
                to_json_exactly(value).map_err(|error| failed("JSON", &error))?,
                "application/json",
            ),
            Format::Csv => {
                let json = serde_json::to_value(value).map_err(|error| failed("JSON", &error))?;
                (
                    to_csv(&json).map_err(|error| failed("CSV", &error))?,
                    TEXT_CSV,
                )
            }
        };
        let tag = crate::caching::entity_tag(&bytes);
        Ok(Answer {
            bytes,
            prepared: Prepared { content_type, tag },
            claim: None,
            written_from: PhantomData,
        })
    }
}

impl<T> Answer<T> {
    /// The answer, holding its size of `admission`'s answer budget until the server has taken
    /// its last chunk into the connection's write buffer, or dropped it, when it is longer
    /// than [`CHUNK`]. Its size is its buffer's capacity, which the body keeps whole: a JSON
    /// answer's is its length, a CSV answer's up to twice that.
    pub fn claiming(mut self, admission: &Arc<Admission>) -> Answer<T> {
        if self.bytes.len() > CHUNK {
            self.claim = Some(admission.claim(self.bytes.capacity()));
        }
        self
    }

    /// The answer of a build with the `ceiling` feature, for every usage request: a constant
    /// JSON body the length of a circuit's usage (592 bytes), copied and tagged as a real
    /// answer is, after the same extractors and middleware but without the lookup, the
    /// roll-up or the writing. `cargo xtask loadtest --ceiling` measures it beside the real
    /// routes, to show what a usage request costs before its work.
    pub fn ceiling() -> Answer<T> {
        static BODY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let body = BODY.get_or_init(|| format!("{{\"ceiling\":\"{}\"}}", "x".repeat(578)));
        let bytes = body.as_bytes().to_vec();
        Answer {
            prepared: Prepared {
                content_type: "application/json",
                tag: crate::caching::entity_tag(&bytes),
            },
            bytes,
            claim: None,
            written_from: PhantomData,
        }
    }
}

/// The buffer every answer is first written into: most answers (a circuit's or an
/// organization's usage) are under 2 KB, and those stay in it, since trimming them would copy
/// them again for at most this much memory until the client has read the answer.
const FIRST_BUFFER: usize = 2048;

/// Answers up to this many bytes are kept from the first pass that writes them, trimmed to
/// their length; a buffer grown by doubling holds at most one and a half times this much
/// while one is written. Longer ones are written again, as [`to_json_exactly`] says.
const KEPT_FROM_FIRST_PASS: usize = 256 * 1024;

/// `value` as JSON, in [`FIRST_BUFFER`] when it fits and otherwise in a buffer of exactly
/// its length. The first pass writes it into a growing buffer while it is at most
/// [`KEPT_FROM_FIRST_PASS`] bytes and counts every byte; an answer that outgrows the buffer
/// drops it and counts on, and a second pass writes it into a buffer of the length counted.
/// So a light answer is serialized once, and a long one twice, never holding more than its
/// own length and the capped buffer's: writing every answer into a growing buffer held up to
/// three times its size at once (the old buffer and its doubled copy), and kept up to twice
/// its size until the client read it; megabytes, for the largest answers, on every compute
/// thread.
fn to_json_exactly<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    /// Keeps what is written while it is short, and counts all of it.
    struct FirstPass {
        kept: Vec<u8>,
        length: usize,
    }

    impl std::io::Write for FirstPass {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.length += bytes.len();
            if self.length <= KEPT_FROM_FIRST_PASS {
                self.kept.extend_from_slice(bytes);
            } else if self.kept.capacity() > 0 {
                self.kept = Vec::new();
            }
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let mut first = FirstPass {
        kept: Vec::with_capacity(FIRST_BUFFER),
        length: 0,
    };
    serde_json::to_writer(&mut first, value)?;
    if first.length <= FIRST_BUFFER {
        return Ok(first.kept);
    }
    if first.length <= KEPT_FROM_FIRST_PASS {
        first.kept.shrink_to_fit();
        return Ok(first.kept);
    }
    let mut bytes = Vec::with_capacity(first.length);
    serde_json::to_writer(&mut bytes, value)?;
    Ok(bytes)
}

impl<T> Responder for Answer<T> {
    type Body = BoxBody;

    fn respond_to(self, _request: &HttpRequest) -> HttpResponse {
        let Answer {
            bytes,
            prepared,
            claim,
            ..
        } = self;
        let mut builder = HttpResponse::Ok();
        builder.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(prepared.content_type),
        ));
        let mut response = match claim {
            None => builder.body(bytes),
            Some(claim) => builder.body(ClaimedBody {
                rest: Bytes::from(bytes),
                _claim: claim,
            }),
        };
        response.extensions_mut().insert(prepared);
        response
    }
}

/// A claimed answer's body, handed to the server [`CHUNK`] bytes at a time; its claim is given
/// back when the server drops it, after the last chunk (with at most its write buffer's 32 KiB
/// still to send) or with the connection.
struct ClaimedBody {
    rest: Bytes,
    _claim: AnswerClaim,
}

impl MessageBody for ClaimedBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.rest.len() as u64)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Infallible>>> {
        let this = self.get_mut();
        if this.rest.is_empty() {
            return Poll::Ready(None);
        }
        let length = this.rest.len().min(CHUNK);
        Poll::Ready(Some(Ok(this.rest.split_to(length))))
    }
}

// The document describes an answer as the JSON value it is in either form.
impl<T: Apiv2Schema> Apiv2Schema for Answer<T> {
    fn name() -> Option<String> {
        T::name()
    }

    fn raw_schema() -> DefaultSchemaRaw {
        T::raw_schema()
    }
}

impl<T: Apiv2Schema> OperationModifier for Answer<T> {
    fn update_parameter(op: &mut DefaultOperationRaw) {
        Json::<T>::update_parameter(op);
    }

    fn update_response(op: &mut DefaultOperationRaw) {
        Json::<T>::update_response(op);
    }

    fn update_definitions(map: &mut BTreeMap<String, DefaultSchemaRaw>) {
        Json::<T>::update_definitions(map);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Part {
        id: &'static str,
        name: &'static str,
        usage: serde_json::Value,
    }

    #[derive(Serialize)]
    struct Body {
        locations: Vec<Part>,
    }

    fn check(format: Format, expected: (&str, &str)) {
        let body = Body {
            locations: vec![Part {
                id: "a",
                name: "=1+1",
                usage: serde_json::json!({"total_watts": 3}),
            }],
        };
        let Answer {
            bytes, prepared, ..
        } = Answer::prepare(&body, format).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!((prepared.content_type, text.as_str()), expected);
        assert_eq!(prepared.tag, crate::caching::entity_tag(&bytes));
    }

    /// A JSON string of `length` bytes, quotes included, written exactly either way, in the
    /// first buffer when it fits and otherwise in a buffer of its length.
    fn check_exact(length: usize) {
        let value = "x".repeat(length - 2);
        let bytes = to_json_exactly(&value).unwrap();
        assert_eq!(
            bytes,
            serde_json::to_vec(&value).unwrap(),
            "length {length}"
        );
        assert_eq!(
            bytes.capacity(),
            length.max(FIRST_BUFFER),
            "length {length}"
        );
    }

    #[test]
    fn writes_answers_into_buffers_of_their_length_once_or_counted_first() {
        for length in [
            2,
            FIRST_BUFFER,
            FIRST_BUFFER + 1,
            KEPT_FROM_FIRST_PASS,
            KEPT_FROM_FIRST_PASS + 1,
            3 << 20,
        ] {
            check_exact(length);
        }
    }

    #[test]
    fn the_ceiling_answer_is_json_of_a_circuit_answers_length_with_its_tag() {
        let Answer {
            bytes, prepared, ..
        } = Answer::<Body>::ceiling();
        assert_eq!(bytes.len(), 592);
        assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok());
        assert_eq!(
            (prepared.content_type, prepared.tag.as_str()),
            (
                "application/json",
                crate::caching::entity_tag(&bytes).as_str()
            )
        );
    }

    #[test]
    fn each_format_reads_back_from_its_name() {
        let read: Vec<Option<Format>> = crate::params::FORMAT_NAMES
            .iter()
            .map(|name| Format::parse(name))
            .collect();
        assert_eq!(read, [Some(Format::Json), Some(Format::Csv)]);
        assert_eq!(Format::parse("CSV"), None);
    }

    #[test]
    fn prepares_json_or_csv_as_the_middlewares_would_with_their_tag() {
        check(
            Format::Json,
            (
                "application/json",
                r#"{"locations":[{"id":"a","name":"=1+1","usage":{"total_watts":3}}]}"#,
            ),
        );
        check(
            Format::Csv,
            (
                TEXT_CSV,
                "id,name,total_watts,sample_count,average_watts,min_watts,max_watts,energy_wh,coverage\r\na,'=1+1,3,,,,,,\r\n",
            ),
        );
    }

    fn budget() -> Arc<Admission> {
        Admission::new(crate::admission::AdmissionLimits {
            slots: 1,
            queue: 0,
            target: std::time::Duration::from_millis(100),
            answer_budget: usize::MAX,
            unread_timeout: std::time::Duration::from_secs(5),
        })
    }

    fn waiting(admission: &Admission) -> usize {
        admission.status().answers_waiting
    }

    /// The lengths of the chunks the server is handed, until the end or until `limit` chunks.
    fn chunks(body: &mut ClaimedBody, limit: usize) -> Vec<usize> {
        let mut context = Context::from_waker(std::task::Waker::noop());
        let mut lengths = Vec::new();
        while lengths.len() < limit {
            match Pin::new(&mut *body).poll_next(&mut context) {
                Poll::Ready(Some(Ok(chunk))) => lengths.push(chunk.len()),
                Poll::Ready(None) => break,
                Poll::Pending => unreachable!("a claimed body is always ready"),
            }
        }
        lengths
    }

    /// An answer of `length` bytes in a buffer of `capacity`, claiming as it would.
    fn claimed_in(length: usize, capacity: usize, admission: &Arc<Admission>) -> Answer<Body> {
        let mut bytes = Vec::with_capacity(capacity);
        bytes.resize(length, b'x');
        let answer = Answer::<Body> {
            bytes,
            prepared: Prepared {
                content_type: "application/json",
                tag: String::new(),
            },
            claim: None,
            written_from: PhantomData,
        };
        answer.claiming(admission)
    }

    fn claimed(length: usize, admission: &Arc<Admission>) -> Answer<Body> {
        claimed_in(length, length, admission)
    }

    #[test]
    fn only_answers_longer_than_a_chunk_claim_the_budget() {
        let admission = budget();
        let short = claimed(CHUNK, &admission);
        assert!(short.claim.is_none());
        assert_eq!(waiting(&admission), 0);
        let long = claimed(CHUNK + 1, &admission);
        assert!(long.claim.is_some());
        assert_eq!(waiting(&admission), CHUNK + 1);
        drop(long);
        assert_eq!(waiting(&admission), 0);
        // A buffer grown by doubling (CSV) is held whole, and claimed so.
        let grown = claimed_in(CHUNK + 1, 2 * CHUNK, &admission);
        assert_eq!(waiting(&admission), grown.bytes.capacity());
        assert!(grown.bytes.capacity() >= 2 * CHUNK);
    }

    #[test]
    fn a_claimed_body_goes_a_chunk_at_a_time_and_gives_its_claim_back_when_dropped() {
        let admission = budget();
        let length = 2 * CHUNK + 7;
        let Answer { bytes, claim, .. } = claimed(length, &admission);
        let mut body = ClaimedBody {
            rest: Bytes::from(bytes),
            _claim: claim.unwrap(),
        };
        assert_eq!(body.size(), BodySize::Sized(length as u64));
        assert_eq!(chunks(&mut body, usize::MAX), [CHUNK, CHUNK, 7]);
        // Held until the server drops the body, after its last chunk.
        assert_eq!(waiting(&admission), length);
        drop(body);
        assert_eq!(waiting(&admission), 0);

        // A client that goes away midway: the connection drops the body with the rest.
        let Answer { bytes, claim, .. } = claimed(length, &admission);
        let mut body = ClaimedBody {
            rest: Bytes::from(bytes),
            _claim: claim.unwrap(),
        };
        assert_eq!(chunks(&mut body, 1), [CHUNK]);
        assert_eq!(waiting(&admission), length);
        drop(body);
        assert_eq!(waiting(&admission), 0);
    }
}
