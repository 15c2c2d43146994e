//! Connections that cannot be held open by a stalled client.
//!
//! actix-http 3 times out a connection's *first* request head (`client_request_timeout`), but
//! arms no timer for a later keep-alive request whose head arrives only in part: a client
//! that sends one whole request and then the start of a second keeps its connection, and a
//! slot of `INSIGHTS_MAX_CONNECTIONS`, for ever. [`Guarded`] closes that gap below the
//! dispatcher: when the service has written nothing to the connection for the client timeout,
//! the stream reports end of input. The dispatcher then closes an idle or half-sent
//! connection at once; a request it is already answering is still answered (half-closed
//! connections are allowed), and the connection closes after it.
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

/// Told the status and request id of every answer the dispatcher gave by itself.
pub type OnBareError = std::sync::Arc<dyn Fn(u16, &str) + Send + Sync>;

/// A TCP stream that reads as ended once the service has written nothing to it for a while,
/// and that gives the dispatcher's own error answers a problem+json body.
pub struct Guarded {
    stream: TcpStream,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    on_bare_error: OnBareError,
    /// A replacement answer still being written, and how many bytes of the dispatcher's
    /// own answer it stands for.
    replacing: Option<(Vec<u8>, usize)>,
    /// Whether a whole request head has arrived since the last answer: the service is then
    /// working on it, and the request's own deadline applies instead.
    head: Seen,
}

/// Watches the bytes read for the blank line that ends a request head.
#[derive(Default)]
struct Seen {
    head_arrived: bool,
    /// The last bytes read, so a blank line split across reads is still seen.
    tail: [u8; 3],
}

impl Guarded {
    /// Guards `stream`, allowing the client `timeout` after each answer (and after
    /// connecting) to send a whole request head.
    pub fn new(stream: TcpStream, timeout: Duration, on_bare_error: OnBareError) -> Guarded {
        Guarded {
            stream,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            on_bare_error,
            replacing: None,
            head: Seen::default(),
        }
    }
}

impl Seen {
    /// Notes the bytes just read, looking for the blank line that ends a request head.
    fn saw(&mut self, bytes: &[u8]) {
        if self.head_arrived || bytes.is_empty() {
            return;
        }
        // The blank line may straddle the last read: look at the tail and the first bytes
        // together, then within the new bytes.
        let mut seam = [0u8; 6];
        seam[..3].copy_from_slice(&self.tail);
        let head = bytes.len().min(3);
        seam[3..3 + head].copy_from_slice(&bytes[..head]);
        self.head_arrived = seam[..3 + head]
            .windows(4)
            .chain(bytes.windows(4))
            .any(|window| window == b"\r\n\r\n");
        for byte in bytes.iter().rev().take(3).rev() {
            self.tail = [self.tail[1], self.tail[2], *byte];
        }
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
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(context, buf) {
            // Nothing to read, no whole head since the last answer, and the client's time is
            // up: report the end of input, which the dispatcher answers by closing.
            Poll::Pending if !self.head.head_arrived => {
                self.deadline.as_mut().poll(context).map(|()| Ok(()))
            }
            Poll::Ready(Ok(())) => {
                self.head.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
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
                    this.replacing = Some((answer[count..].to_vec(), stands_for));
                    // Come back for the rest at once.
                    context.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(0)),
                Poll::Ready(Ok(_)) => return Poll::Ready(Ok(stands_for)),
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    this.replacing = Some((answer, stands_for));
                    return Poll::Pending;
                }
            }
        }
        let written = Pin::new(&mut self.stream).poll_write(context, buf);
        if matches!(written, Poll::Ready(Ok(count)) if count > 0) {
            // An answer went out: the client has a fresh allowance for its next request.
            let next = Instant::now() + self.timeout;
            self.deadline.as_mut().reset(next);
            self.head = Seen::default();
        }
        written
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

    #[test]
    fn finds_the_end_of_a_head_however_the_reads_split_it() {
        let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        for chunk in 1..=head.len() {
            let mut seen = Seen::default();
            let mut arrived_at = None;
            for (index, piece) in head.chunks(chunk).enumerate() {
                seen.saw(piece);
                if seen.head_arrived && arrived_at.is_none() {
                    arrived_at = Some(index);
                }
            }
            assert_eq!(
                arrived_at,
                Some((head.len() - 1) / chunk),
                "chunks of {chunk}"
            );
        }
        let mut partial = Seen::default();
        partial.saw(b"GET /healthz HTTP/1.1\r\nHo");
        partial.saw(b"st: x\r\n");
        assert!(!partial.head_arrived);
    }
}
