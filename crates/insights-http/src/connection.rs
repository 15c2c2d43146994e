//! Connections that cannot be held open by a stalled client, in either direction.
//!
//! actix-http 3 times out a connection's *first* request head (`client_request_timeout`), but
//! arms no timer for a later keep-alive request whose head arrives only in part, nor for
//! bytes that are no request at all (blank lines after an answer, the rest of a body the
//! handler did not read), nor for an answer the client does not read. A client could hold
//! its connection, and a slot of `INSIGHTS_MAX_CONNECTIONS`, for ever, and pin a whole answer
//! in memory. [`Guarded`] closes those gaps below the dispatcher:
//! - **Reading.** While the application answers no request on the connection, the client
//!   has the client timeout, from the last byte of an answer written (or from connecting),
//!   to get a whole request to it; after that the stream reports end of input, whatever
//!   bytes came, and the dispatcher closes the connection. Whether a request is being
//!   answered is not guessed from the bytes: the middleware counts it in the connection's
//!   `InFlight`, which the server hands to each request as actix connection data.
//! - **Writing.** A write that the client's window holds back for the client timeout fails,
//!   and the dispatcher drops the connection and the answer it held.
//!
//! The dispatcher also answers some requests itself, before the application sees them: a
//! malformed request line or header (400), a head over its limit (431), a first head too
//! slow (408). Those answers are bare, with no body and no request id, and the dispatcher
//! offers no hook to change them. [`Guarded`] recognises them on their way out (every answer
//! of the application carries `x-request-id`; these never do) and sends a problem+json
//! answer with a request id in their place, and reports each one so it is counted and
//! logged like any other answer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::middleware::InFlight;

/// Told the status and request id of every answer the dispatcher gave by itself.
pub type OnBareError = std::sync::Arc<dyn Fn(u16, &str) + Send + Sync>;

/// A TCP stream that reads as ended once the client has stalled for the client timeout while
/// nothing was being answered, that fails a write the client leaves unread for as long, and
/// that gives the dispatcher's own error answers a problem+json body.
pub struct Guarded {
    stream: TcpStream,
    timeout: Duration,
    /// When the client's time to send a request runs out, while none is being answered.
    read_deadline: Pin<Box<Sleep>>,
    /// When a write held back by the client runs out of time; armed while one is.
    write_deadline: Option<Pin<Box<Sleep>>>,
    on_bare_error: OnBareError,
    /// A replacement answer still being written, and how many bytes of the dispatcher's
    /// own answer it stands for.
    replacing: Option<(Vec<u8>, usize)>,
    in_flight: InFlight,
    /// Whether a request was being answered when the stream was last read: the end of one
    /// starts the client's time afresh.
    was_answering: bool,
}

impl Guarded {
    /// Guards `stream`, allowing the client `timeout` after each answer (and after
    /// connecting) to send a whole request, and as long to read each part of an answer.
    pub fn new(stream: TcpStream, timeout: Duration, on_bare_error: OnBareError) -> Guarded {
        Guarded {
            stream,
            timeout,
            read_deadline: Box::pin(tokio::time::sleep(timeout)),
            write_deadline: None,
            on_bare_error,
            replacing: None,
            in_flight: InFlight::default(),
            was_answering: false,
        }
    }

    /// The count the middleware keeps of the requests being answered on this connection.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.clone()
    }

    /// Fails with `TimedOut` once a write has been held back for the timeout; `Pending`
    /// until then (the timer wakes the task).
    fn poll_write_deadline<T>(&mut self, context: &mut Context<'_>) -> Poll<io::Result<T>> {
        let timeout = self.timeout;
        let deadline = self
            .write_deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match deadline.as_mut().poll(context) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing of the answer for the client timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Notes that the client took bytes of an answer: it has a fresh allowance to read the
    /// rest, and to send its next request.
    fn progressed(&mut self) {
        self.write_deadline = None;
        let next = Instant::now() + self.timeout;
        self.read_deadline.as_mut().reset(next);
    }
}

/// The length of the head, if `buf` starts with a whole error answer that the dispatcher
/// made by itself: a 4xx or 5xx with an empty body and no `x-request-id`.
fn bare_error_head(buf: &[u8]) -> Option<(u16, usize)> {
    // Most writes are bodies or success heads: rule them out before scanning anything.
    if !(buf.starts_with(b"HTTP/1.1 4") || buf.starts_with(b"HTTP/1.1 5")) {
        return None;
    }
    // A bare head is a few lines; an application's error answer carries its id early too.
    let head = &buf[..buf.len().min(1024)];
    let end = head.windows(4).position(|window| window == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?.to_ascii_lowercase();
    let status: u16 = head.strip_prefix("http/1.1 ")?.get(..3)?.parse().ok()?;
    let bare = (400..600).contains(&status)
        && head.contains("\r\ncontent-length: 0\r\n")
        && !head.contains("\r\nx-request-id:");
    bare.then_some((status, end))
}

/// The problem+json answer that stands in for a bare one of `status`.
fn problem_answer(status: u16, request_id: &str) -> Vec<u8> {
    let code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    let detail = match status {
        400 => "The request line or its headers are malformed.",
        408 => "The request head did not arrive in time; send it whole within the client timeout.",
        431 => "The request head is larger than the service accepts.",
        _ => "The request could not be read.",
    };
    let body = serde_json::json!({
        "type": "about:blank",
        "title": code.canonical_reason().unwrap_or("Error"),
        "status": status,
        "detail": detail,
    })
    .to_string();
    format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nx-request-id: {request_id}\r\nconnection: close\r\n\r\n{body}",
        code.canonical_reason().unwrap_or("Error"),
        crate::error::PROBLEM_JSON,
        body.len()
    )
    .into_bytes()
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let answering = !self.in_flight.idle();
        if self.was_answering && !answering {
            // An answer was just given: the client's time for its next request starts now.
            let next = Instant::now() + self.timeout;
            self.read_deadline.as_mut().reset(next);
        }
        self.was_answering = answering;
        match Pin::new(&mut self.stream).poll_read(context, buf) {
            // Nothing to read, no request being answered, and the client's time is up:
            // report the end of input, which the dispatcher answers by closing. Bytes that
            // do arrive do not count as progress: only an answer does.
            Poll::Pending if !answering => {
                self.read_deadline.as_mut().poll(context).map(|()| Ok(()))
            }
            other => other,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replacing.is_none() {
            if let Some((status, head_length)) = bare_error_head(buf) {
                let request_id = crate::middleware::new_request_id();
                (self.on_bare_error)(status, &request_id);
                self.replacing = Some((problem_answer(status, &request_id), head_length));
            }
        }
        if let Some((answer, stands_for)) = self.replacing.take() {
            // Write the replacement whole, then report the dispatcher's bytes as written.
            let this = &mut *self;
            match Pin::new(&mut this.stream).poll_write(context, &answer) {
                Poll::Ready(Ok(count)) if count < answer.len() && count > 0 => {
                    this.progressed();
                    this.replacing = Some((answer[count..].to_vec(), stands_for));
                    // Come back for the rest at once.
                    context.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(0)),
                Poll::Ready(Ok(_)) => {
                    this.progressed();
                    return Poll::Ready(Ok(stands_for));
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    this.replacing = Some((answer, stands_for));
                    return this.poll_write_deadline(context);
                }
            }
        }
        match Pin::new(&mut self.stream).poll_write(context, buf) {
            Poll::Pending => self.poll_write_deadline(context),
            written => {
                if matches!(written, Poll::Ready(Ok(count)) if count > 0) {
                    self.progressed();
                }
                written
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_the_dispatchers_bare_error_answers() {
        fn check(written: &[u8], expected: Option<(u16, usize)>) {
            assert_eq!(
                bare_error_head(written),
                expected,
                "{}",
                String::from_utf8_lossy(written)
            );
        }
        let bare = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n";
        check(bare, Some((400, bare.len())));
        let too_large =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        check(too_large, Some((431, too_large.len())));
        // The application's answers carry a request id, or a body, or succeed.
        check(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nx-request-id: a\r\n\r\n",
            None,
        );
        check(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 93\r\n\r\n{}",
            None,
        );
        check(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", None);
        check(b"{\"status\":\"ok\"}", None);
        check(b"HTTP/1.1 400 Bad Request\r\ncontent-le", None);
    }
}
