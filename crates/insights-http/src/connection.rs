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

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// A TCP stream that reads as ended once the service has written nothing to it for a while.
pub struct Guarded {
    stream: TcpStream,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Guarded {
    /// Guards `stream`, allowing the client `timeout` after each answer (and after
    /// connecting) to send a whole request head.
    pub fn new(stream: TcpStream, timeout: Duration) -> Guarded {
        Guarded {
            stream,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.stream).poll_read(context, buf) {
            // Nothing to read, and the client's time is up: report the end of input,
            // which the dispatcher answers by closing the connection.
            Poll::Pending => self.deadline.as_mut().poll(context).map(|()| Ok(())),
            ready => ready,
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(context, buf);
        if matches!(written, Poll::Ready(Ok(count)) if count > 0) {
            // An answer went out: the client has a fresh allowance for its next request.
            let next = Instant::now() + self.timeout;
            self.deadline.as_mut().reset(next);
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
